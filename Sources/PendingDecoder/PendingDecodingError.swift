/// The reason an encoded row (see docs/FORMAT.md) could not be decoded, and where.
///
/// `description` names the problem, the byte offset and the column, but never
/// prints the row's data: rows hold user data and end up in logs.
public struct PendingDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong with the input.
    public enum Kind: Sendable, Hashable, CaseIterable {
        /// A name's opening `"` has no closing `"` before the end of the input.
        case unterminatedName
        /// A value's opening `'` has no closing `'` before the end of the input.
        case unterminatedValue
        /// The byte after a name's closing `"` is not `=` (or the input ends there).
        case missingEquals
        /// The byte after `=` is neither `'` (a value) nor a space (`NULL`), or the input ends there.
        case expectedValue
        /// A pair does not start with `"`: a stray byte between pairs or after the last one.
        case expectedNameQuote
        /// A value's closing `'` is followed by `"` or by the end of the input instead of a space.
        case missingSpaceAfterValue
        /// A value's closing `'` is followed by a byte other than a space or `"`: most likely
        /// a `'` inside the value that was not doubled.
        case loneQuote
        /// A `\` inside a value that is not doubled.
        case loneBackslash
        /// A name with no characters (`""`).
        case emptyColumnName
        /// A name that an earlier pair of the same row already used.
        case duplicateColumn
        /// Bytes in a name or value that are not valid UTF-8.
        case invalidUTF8
        /// A NUL byte in a name or value; PostgreSQL text never contains one.
        case nulByte
        /// The input is larger than a row can be (2 GiB; PostgreSQL's own limit for text is 1 GB).
        case rowTooLarge
    }

    /// What is wrong.
    public var kind: Kind
    /// The byte offset into the input where the problem is.
    public var offset: Int
    /// The 0-based index of the pair that holds the problem, when known.
    public var columnIndex: Int?

    /// Creates an error of the given kind at a byte offset, in a given pair.
    public init(_ kind: Kind, offset: Int, columnIndex: Int?) {
        self.kind = kind
        self.offset = offset
        self.columnIndex = columnIndex
    }

    public var description: String {
        let column = columnIndex.map { " (column #\($0))" } ?? ""
        return "invalid pending row at byte \(offset)\(column): \(kind.summary)"
    }
}

extension PendingDecodingError.Kind {
    /// A short phrase for messages; never includes data from the row.
    var summary: String {
        switch self {
        case .unterminatedName: "the column name opened there has no closing '\"'"
        case .unterminatedValue: "the value opened there has no closing \"'\""
        case .missingEquals: "expected '=' after the column name"
        case .expectedValue: "expected \"'\" (a value) or ' ' (NULL) after '='"
        case .expectedNameQuote: "expected '\"' starting a column name"
        case .missingSpaceAfterValue: "expected ' ' after the value's closing quote"
        case .loneQuote: "a single quote inside a value is not doubled"
        case .loneBackslash: "a backslash inside a value is not doubled"
        case .emptyColumnName: "empty column name"
        case .duplicateColumn: "column name repeats an earlier column of the row"
        case .invalidUTF8: "invalid UTF-8"
        case .nulByte: "NUL byte"
        case .rowTooLarge: "row of 2 GiB or more"
        }
    }
}
