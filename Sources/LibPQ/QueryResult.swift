import CLibPQ

/// The result of one statement, owning its `PGresult` (cleared on deinit).
///
/// Values are read in place: `withValueBytes` hands out the bytes libpq holds,
/// valid while the result lives, without copying them.
public final class QueryResult {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        PQclear(pointer)
    }

    public var rowCount: Int { Int(PQntuples(pointer)) }
    public var columnCount: Int { Int(PQnfields(pointer)) }

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

    /// The first column of the first row, as text.
    public var scalar: String? { string(row: 0, column: 0) }
}
