import CLibPQ

/// The result of one statement, owning its `PGresult` (cleared on deinit).
///
/// Values are read in place: `withValueBytes` hands out the bytes libpq holds,
/// valid while the result lives, without copying them.
public final class QueryResult {
    let pointer: OpaquePointer
    /// A result never changes: its counts are read once.
    public let rowCount: Int
    public let columnCount: Int

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
        rowCount = Int(PQntuples(pointer))
        columnCount = Int(PQnfields(pointer))
    }

    deinit {
        PQclear(pointer)
    }

    /// The command tag, e.g. `UPDATE 1`.
    public var commandStatus: String {
        guard let tag = PQcmdStatus(pointer) else { return "" }
        return String(cString: tag)
    }

    /// Rows affected by INSERT/UPDATE/DELETE/COPY/…, nil for other commands.
    public var affectedRows: Int? {
        guard let text = PQcmdTuples(pointer), text.pointee != 0 else { return nil }
        return Int(String(cString: text))
    }

    public func isNull(row: Int, column: Int) -> Bool {
        PQgetisnull(pointer, Int32(row), Int32(column)) != 0
    }

    /// The text value at `row`, `column`; nil for SQL NULL or out of range.
    public func string(row: Int, column: Int) -> String? {
        guard row < rowCount, column < columnCount, !isNull(row: row, column: column),
              let value = PQgetvalue(pointer, Int32(row), Int32(column))
        else { return nil }
        return String(cString: value)
    }

    /// Calls `body` with the bytes of the value at `row`, `column` (nil for
    /// SQL NULL or out of range), without copying them.
    public func withValueBytes<R, E: Error>(
        row: Int, column: Int, _ body: (UnsafeRawBufferPointer?) throws(E) -> R
    ) throws(E) -> R {
        guard row < rowCount, column < columnCount, !isNull(row: row, column: column),
              let value = PQgetvalue(pointer, Int32(row), Int32(column))
        else { return try body(nil) }
        let length = Int(PQgetlength(pointer, Int32(row), Int32(column)))
        return try body(UnsafeRawBufferPointer(start: value, count: length))
    }

    /// The integer at `row`, `column` (text format), read in place; nil for
    /// SQL NULL, out of range, or anything but optional minus and digits
    /// that fit an `Int64`.
    public func int64(row: Int, column: Int) -> Int64? {
        withValueBytes(row: row, column: column) { bytes -> Int64? in
            guard let bytes, !bytes.isEmpty else { return nil }
            let negative = bytes[0] == UInt8(ascii: "-")
            let digits = negative ? bytes.dropFirst() : bytes[...]
            guard !digits.isEmpty else { return nil }
            var value: Int64 = 0
            for byte in digits {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                let digit = Int64(byte - UInt8(ascii: "0"))
                let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (next, overflow2) = negative ? shifted.subtractingReportingOverflow(digit)
                                                 : shifted.addingReportingOverflow(digit)
                guard !overflow1, !overflow2 else { return nil }
                value = next
            }
            return value
        }
    }

    /// The first column of the first row, as text.
    public var scalar: String? { string(row: 0, column: 0) }
}
