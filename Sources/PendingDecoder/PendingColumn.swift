/// One column of a captured row: its name and its value in the type's text form.
///
/// A `nil` value is SQL `NULL`; the empty string `""` is a value of its own,
/// distinct from `NULL`.
public struct PendingColumn: Sendable, Hashable {
    /// The column's name, unquoted (an embedded `"` is one character here).
    public var name: String
    /// The value's text, or `nil` for SQL `NULL`.
    public var value: String?

    /// Creates a column with the given name and value (`nil` = `NULL`).
    public init(name: String, value: String?) {
        self.name = name
        self.value = value
    }
}
