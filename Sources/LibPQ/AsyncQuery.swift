import CLibPQ

/// One statement sent now and its result collected later, so the server
/// works on it while this thread does something else (outside pipeline mode).
extension Connection {
    /// Sends `sql` with text parameters without waiting; collect the result
    /// with `finishQuery(statement:)` before any other call on this connection.
    public func startQuery(_ sql: String, parameters: ParameterBuffer = ParameterBuffer()) throws(PostgresError) {
        let sent = try parameters.withValuePointers { (values, count) throws(PostgresError) in
            PQsendQueryParams(pg, sql, count, nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw PostgresError(connection: pg, kind: .server, statement: sql) }
    }

    /// Reads whatever the server has sent so far into libpq's buffer,
    /// without waiting (so a large result does not stall the server).
    public func readAvailableInput() {
        _ = PQconsumeInput(pg)
    }

    /// Waits for the result of the statement `startQuery` sent.
    @discardableResult
    public func finishQuery(statement: String?) throws(PostgresError) -> QueryResult {
        var first: Result<QueryResult, PostgresError>?
        while let raw = PQgetResult(pg) {
            let outcome = Result { () throws(PostgresError) -> QueryResult in try check(raw, statement: statement) }
            if first == nil { first = outcome }
        }
        guard let first else {
            throw PostgresError(connection: pg, kind: .connectionLost, statement: statement)
        }
        return try first.get()
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Connection {
    /// Waits until this connection's next result can be read without
    /// blocking, meanwhile reading whatever arrives on `other` (a query
    /// started there with `startQuery` then progresses instead of stalling
    /// on a full socket).
    public func waitForResult(servicing other: Connection?) throws(PostgresError) {
        guard let other else { return }
        while PQisBusy(pg) == 1 {
            var descriptors = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: other.socket, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&descriptors, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                throw PostgresError(kind: .connectionLost, message: "poll failed: \(String(cString: strerror(errno)))")
            }
            if descriptors[1].revents != 0 {
                // Errors there surface when its result is collected.
                other.readAvailableInput()
            }
            if descriptors[0].revents != 0, PQconsumeInput(pg) == 0 {
                throw PostgresError(connection: pg, kind: .connectionLost)
            }
        }
    }
}
