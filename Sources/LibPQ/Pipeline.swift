import CLibPQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libpq pipeline mode: many statements sent without waiting, their results
/// read afterwards in the same order.
///
/// While in pipeline mode the connection is non-blocking for sends, and
/// `send…` reads pending input whenever the output would block, so a long
/// pipeline cannot dead-lock with a server that is itself blocked writing
/// results nobody reads.
extension Connection {
    /// One item of a pipeline's results.
    public enum PipelineResult {
        /// A statement succeeded.
        case success(QueryResult)
        /// A statement failed.
        case failure(PostgresError)
        /// A statement was skipped because an earlier one in the same sync failed.
        case aborted
        /// The end of one `pipelineSync()`.
        case sync
    }

    public var isInPipelineMode: Bool { PQpipelineStatus(pg) != PQ_PIPELINE_OFF }

    public func enterPipelineMode() throws(PostgresError) {
        guard PQenterPipelineMode(pg) == 1 else { throw PostgresError(connection: pg, kind: .server) }
        guard PQsetnonblocking(pg, 1) == 0 else { throw PostgresError(connection: pg, kind: .server) }
    }

    /// Leaves pipeline mode; every result must have been read.
    public func exitPipelineMode() throws(PostgresError) {
        guard PQsetnonblocking(pg, 0) == 0 else { throw PostgresError(connection: pg, kind: .server) }
        guard PQexitPipelineMode(pg) == 1 else { throw PostgresError(connection: pg, kind: .server) }
    }

    /// Queues the preparation of `sql` as `name`.
    public func sendPrepare(name: String, sql: String) throws(PostgresError) {
        guard PQsendPrepare(pg, name, sql, 0, nil) == 1 else {
            throw PostgresError(connection: pg, kind: .server, statement: sql)
        }
        try flushWithoutBlocking()
    }

    /// Queues an execution of the prepared statement `name`.
    public func sendQueryPrepared(name: String, parameters: ParameterBuffer) throws(PostgresError) {
        let sent = try parameters.withValuePointers { (values, count) throws(PostgresError) in
            PQsendQueryPrepared(pg, name, count, values, nil, nil, 0)
        }
        guard sent == 1 else { throw PostgresError(connection: pg, kind: .server, statement: "EXECUTE \(name)") }
        try flushWithoutBlocking()
    }

    /// Queues a statement with text parameters.
    public func sendQuery(_ sql: String, parameters: ParameterBuffer = ParameterBuffer()) throws(PostgresError) {
        let sent = try parameters.withValuePointers { (values, count) throws(PostgresError) in
            PQsendQueryParams(pg, sql, count, nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw PostgresError(connection: pg, kind: .server, statement: sql) }
        try flushWithoutBlocking()
    }

    /// Marks a sync point and sends everything queued.
    public func pipelineSync() throws(PostgresError) {
        guard PQpipelineSync(pg) == 1 else { throw PostgresError(connection: pg, kind: .server) }
        try flush()
    }

    /// The next result of the pipeline, waiting for it if needed.
    ///
    /// Each queued statement yields one `success`, `failure` or `aborted`;
    /// each sync yields `sync`.
    public func nextPipelineResult() throws(PostgresError) -> PipelineResult {
        var nulls = 0
        while true {
            guard let raw = PQgetResult(pg) else {
                // libpq has nothing queued: the caller asked for more results
                // than it sent statements, or the connection broke.
                if !isOpen { throw PostgresError(connection: pg, kind: .connectionLost) }
                nulls += 1
                if nulls > 1 {
                    throw PostgresError(kind: .unexpectedResult, message: "no pipeline result is pending")
                }
                continue
            }
            let result = QueryResult(raw)
            let status = PQresultStatus(raw)
            switch status {
            case PGRES_PIPELINE_SYNC:
                return .sync
            case PGRES_PIPELINE_ABORTED:
                consumeEndOfStatement()
                return .aborted
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
                consumeEndOfStatement()
                return .success(result)
            case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
                var error = PostgresError(result: raw, statement: nil)
                if !isOpen { error.kind = .connectionLost }
                consumeEndOfStatement()
                return .failure(error)
            default:
                let name = String(cString: PQresStatus(status))
                throw PostgresError(kind: .unexpectedResult, message: "unexpected pipeline result \(name)")
            }
        }
    }

    /// Reads the NULL that ends one statement's results in pipeline mode.
    private func consumeEndOfStatement() {
        // In pipeline mode every statement's results end with one NULL; a
        // broken connection returns NULL too, which the next call notices.
        if let extra = PQgetResult(pg) {
            // A statement that returns several results (not ours): drop them.
            PQclear(extra)
            consumeEndOfStatement()
        }
    }

    /// Sends buffered output without blocking when the socket is full,
    /// reading input meanwhile; returns once libpq's output buffer is empty
    /// or at least the send would not block the server.
    func flushWithoutBlocking() throws(PostgresError) {
        while true {
            let state = PQflush(pg)
            if state == 0 { return }
            if state < 0 { throw PostgresError(connection: pg, kind: .connectionLost) }
            try waitForSocket(write: true)
            // Read whatever results arrived, so the server can go on writing.
            if PQconsumeInput(pg) == 0 { throw PostgresError(connection: pg, kind: .connectionLost) }
        }
    }

    /// Sends everything buffered, waiting as long as needed.
    func flush() throws(PostgresError) {
        if PQisnonblocking(pg) == 1 {
            try flushWithoutBlocking()
        } else if PQflush(pg) != 0 {
            throw PostgresError(connection: pg, kind: .connectionLost)
        }
    }

    /// Waits until the socket is readable (or writable, if `write`).
    func waitForSocket(write: Bool) throws(PostgresError) {
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN) | (write ? Int16(POLLOUT) : 0), revents: 0)
        while true {
            let ready = poll(&descriptor, 1, -1)
            if ready >= 0 { return }
            if errno != EINTR {
                throw PostgresError(kind: .connectionLost, message: "poll failed: \(String(cString: strerror(errno)))")
            }
        }
    }
}

extension Connection {
    /// Runs `statements` (SQL text and text parameters) in one round trip:
    /// pipeline mode, one sync. Returns one result per statement, in order
    /// (after a failure the rest are `.aborted`). Leaves pipeline mode.
    public func executePipeline(_ statements: [(sql: String, parameters: [String?])]) throws(PostgresError) -> [PipelineResult] {
        let alreadyPipelining = isInPipelineMode
        if !alreadyPipelining { try enterPipelineMode() }
        var results: [PipelineResult] = []
        results.reserveCapacity(statements.count)
        for statement in statements {
            try sendQuery(statement.sql, parameters: ParameterBuffer(statement.parameters))
        }
        try pipelineSync()
        for statement in statements {
            var result = try nextPipelineResult()
            if case .failure(var error) = result {
                error.statement = statement.sql
                result = .failure(error)
            }
            results.append(result)
        }
        guard case .sync = try nextPipelineResult() else {
            throw PostgresError(kind: .unexpectedResult, message: "more pipeline results than statements sent")
        }
        if !alreadyPipelining { try exitPipelineMode() }
        return results
    }
}

extension Connection.PipelineResult {
    /// The result, or the error that failed or aborted the statement.
    public func get() throws(PostgresError) -> QueryResult {
        switch self {
        case .success(let result): return result
        case .failure(let error): throw error
        case .aborted: throw PostgresError(kind: .server, message: "skipped after an earlier statement of the pipeline failed")
        case .sync: throw PostgresError(kind: .unexpectedResult, message: "a pipeline sync where a result was expected")
        }
    }
}
