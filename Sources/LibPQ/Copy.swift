import CLibPQ

/// COPY … FROM STDIN. Not allowed in pipeline mode: leave it first.
extension Connection {
    /// Starts `sql` (a `COPY … FROM STDIN`); send rows with `putCopyData`,
    /// then `endCopy()`.
    public func beginCopy(_ sql: String) throws(PostgresError) {
        let raw = PQexec(pg, sql)
        if let raw, PQresultStatus(raw) == PGRES_COPY_IN {
            PQclear(raw)
            return
        }
        // An error (thrown by check) or some other command's result.
        _ = try check(raw, statement: sql)
        throw PostgresError(kind: .unexpectedResult, message: "the server did not start COPY FROM STDIN", statement: sql)
    }

    /// Sends COPY data (any split into calls is fine).
    public func putCopyData(_ bytes: UnsafeRawBufferPointer) throws(PostgresError) {
        guard !bytes.isEmpty else { return }
        let sent = bytes.withMemoryRebound(to: CChar.self) { chars in
            PQputCopyData(pg, chars.baseAddress, Int32(chars.count))
        }
        guard sent == 1 else { throw PostgresError(connection: pg, kind: .connectionLost) }
    }

    /// Ends the COPY and returns its result (`affectedRows` is the row count),
    /// or throws the error the server reported for the data.
    @discardableResult
    public func endCopy(statement: String? = nil) throws(PostgresError) -> QueryResult {
        try sendCopyEnd()
        return try finishCopy(statement: statement)
    }

    /// Ends the COPY without waiting for the server: collect its result
    /// with `finishCopy(statement:)` before this connection's next command
    /// (meanwhile the server stores the last rows).
    public func sendCopyEnd() throws(PostgresError) {
        guard PQputCopyEnd(pg, nil) == 1 else { throw PostgresError(connection: pg, kind: .connectionLost) }
    }

    /// Abandons the COPY with `reason` (the server rolls the statement back).
    public func abortCopy(reason: String) {
        if PQputCopyEnd(pg, reason) == 1 {
            _ = try? finishCopy(statement: nil)
        }
    }

    /// The result of an ended COPY (`affectedRows` is the row count), or the
    /// error the server reported for its data.
    @discardableResult
    public func finishCopy(statement: String?) throws(PostgresError) -> QueryResult {
        var last: QueryResult?
        var firstError: PostgresError?
        while let raw = PQgetResult(pg) {
            do throws(PostgresError) {
                last = try check(raw, statement: statement)
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
        guard let last else {
            throw PostgresError(connection: pg, kind: .connectionLost, statement: statement)
        }
        return last
    }
}

/// COPY … TO STDOUT: the server's rows read one at a time.
extension Connection {
    /// Starts `sql` (a `COPY … TO STDOUT`); read its rows with
    /// `readCopyRow(_:)` until that returns false.
    public func beginCopyOut(_ sql: String) throws(PostgresError) {
        let raw = PQexec(pg, sql)
        if let raw, PQresultStatus(raw) == PGRES_COPY_OUT {
            PQclear(raw)
            return
        }
        _ = try check(raw, statement: sql)
        throw PostgresError(kind: .unexpectedResult, message: "the server did not start COPY TO STDOUT", statement: sql)
    }

    /// Waits for the next row of a `COPY … TO STDOUT` and passes its bytes
    /// (one row in COPY's format, its newline included) to `body`; they are
    /// valid only during the call.
    ///
    /// - Returns: true after a row; false, without calling `body`, once the
    ///   server has sent every row and reported success.
    /// - Throws: the error that ended the COPY (the server's, or a lost connection).
    public func readCopyRow(_ body: (UnsafeRawBufferPointer) -> Void) throws(PostgresError) -> Bool {
        var row: UnsafeMutablePointer<CChar>?
        let length = PQgetCopyData(pg, &row, 0)
        if length > 0, let row {
            defer { PQfreemem(row) }
            body(UnsafeRawBufferPointer(start: row, count: Int(length)))
            return true
        }
        if length == -1 {
            _ = try finishCopy(statement: nil)
            return false
        }
        throw PostgresError(connection: pg, kind: isOpen ? .server : .connectionLost)
    }
}

extension Connection {
    /// Stops a `COPY … TO STDOUT` before its end: asks the server to cancel
    /// it (`PQcancel`) and reads and drops what it sent meanwhile, so the
    /// connection can run its next statement (the transaction is then failed).
    public func abandonCopyOut() {
        if let cancel = PQgetCancel(pg) {
            var message = [CChar](repeating: 0, count: 256)
            _ = PQcancel(cancel, &message, Int32(message.count))
            PQfreeCancel(cancel)
        }
        while true {
            do throws(PostgresError) {
                if try !readCopyRow({ _ in }) { return }
            } catch {
                return
            }
        }
    }
}
