import CLibPQ
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One libpq connection, open from `init` until `deinit`.
///
/// Blocking: every call waits for the server. Not thread-safe, and not
/// `Sendable`: exactly one task owns a connection and runs it on one thread.
public final class Connection {
    let pg: OpaquePointer
    let logger: Logger
    private let noticeSink: NoticeSink

    /// Opens a connection the libpq way.
    ///
    /// - Parameters:
    ///   - conninfo: a `key=value` string or a `postgresql://` URI, expanded as
    ///     libpq's `dbname` (so PG* variables, the password file and service
    ///     files apply to whatever it leaves out); nil or empty uses only those.
    ///   - logger: receives the server's notices at debug level.
    public init(conninfo: String?, logger: Logger) throws(PostgresError) {
        // Defaults come before `dbname`, so the caller's string overrides them;
        // the client encoding comes after it, so it always holds: values cross
        // between databases as UTF-8, whatever each side's encoding.
        var keywords = ["fallback_application_name", "connect_timeout",
                        "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                        "tcp_user_timeout"]
        var values = ["dbmirror", "10", "1", "15", "5", "3", "60000"]
        if let conninfo, !conninfo.isEmpty {
            keywords.append("dbname")
            values.append(conninfo)
        }
        keywords.append("client_encoding")
        values.append("UTF8")

        let connection: OpaquePointer? = withCStringArray(keywords) { keys in
            withCStringArray(values) { vals in PQconnectdbParams(keys, vals, 1) }
        }
        guard let connection else {
            throw PostgresError(kind: .connectionFailed, message: "out of memory while connecting")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let error = PostgresError(connection: connection, kind: .connectionFailed)
            PQfinish(connection)
            throw error
        }
        self.pg = connection
        self.logger = logger
        self.noticeSink = NoticeSink(logger: logger)
        PQsetNoticeReceiver(connection, { context, result in
            guard let context, let result else { return }
            Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue().receive(result)
        }, Unmanaged.passUnretained(noticeSink).toOpaque())
    }

    deinit {
        PQfinish(pg)
    }

    /// True while the connection is usable.
    public var isOpen: Bool { PQstatus(pg) == CONNECTION_OK }

    /// The server's process id, for logs.
    public var backendPID: Int { Int(PQbackendPID(pg)) }

    /// The socket, for `poll`.
    public var socket: Int32 { PQsocket(pg) }

    /// Runs `sql` with text parameters `$1`, `$2`, … (one statement).
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> QueryResult {
        try execute(sql, parameters: ParameterBuffer(parameters))
    }

    /// Runs `sql` with text parameters from a reusable buffer (one statement).
    @discardableResult
    public func execute(_ sql: String, parameters: ParameterBuffer) throws(PostgresError) -> QueryResult {
        let raw = try parameters.withValuePointers { (values, count) throws(PostgresError) in
            PQexecParams(pg, sql, count, nil, values, nil, nil, 0)
        }
        return try check(raw, statement: sql)
    }

    /// Runs one or more parameterless statements separated by semicolons;
    /// returns the last result.
    @discardableResult
    public func executeScript(_ sql: String) throws(PostgresError) -> QueryResult {
        try check(PQexec(pg, sql), statement: sql)
    }

    /// Prepares `sql` under `name` for this session.
    public func prepare(name: String, sql: String) throws(PostgresError) {
        _ = try check(PQprepare(pg, name, sql, 0, nil), statement: sql)
    }

    /// Runs the prepared statement `name`.
    @discardableResult
    public func executePrepared(name: String, parameters: ParameterBuffer) throws(PostgresError) -> QueryResult {
        let raw = try parameters.withValuePointers { (values, count) throws(PostgresError) in
            PQexecPrepared(pg, name, count, values, nil, nil, 0)
        }
        return try check(raw, statement: "EXECUTE \(name)")
    }

    /// Quotes `identifier` for SQL with the server's rules (`PQescapeIdentifier`).
    public func escapeIdentifier(_ identifier: String) throws(PostgresError) -> String {
        guard let escaped = PQescapeIdentifier(pg, identifier, identifier.utf8.count) else {
            throw PostgresError(connection: pg, kind: .invalidArgument)
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    /// Turns a `PGresult` into a `QueryResult`, or throws the error it carries.
    func check(_ raw: OpaquePointer?, statement: String?) throws(PostgresError) -> QueryResult {
        guard let raw else {
            throw PostgresError(connection: pg, kind: isOpen ? .server : .connectionLost, statement: statement)
        }
        let result = QueryResult(raw)
        switch PQresultStatus(raw) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return result
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            var error = PostgresError(result: raw, statement: statement)
            if !isOpen {
                error.kind = .connectionLost
            }
            throw error
        default:
            let status = String(cString: PQresStatus(PQresultStatus(raw)))
            throw PostgresError(kind: .unexpectedResult, message: "unexpected result status \(status)",
                                statement: statement)
        }
    }
}

/// Routes the server's NOTICE/WARNING messages into the connection's logger.
final class NoticeSink {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }

    func receive(_ result: OpaquePointer) {
        let severity = PQresultErrorField(result, Int32(UInt8(ascii: "V"))).map { String(cString: $0) } ?? "NOTICE"
        let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) } ?? ""
        if severity == "WARNING" {
            logger.warning("server: \(message)")
        } else {
            logger.debug("server \(severity.lowercased()): \(message)")
        }
    }
}

/// Calls `body` with a NULL-terminated array of C strings.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let list = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: strings.count + 1)
    var copies: [UnsafeMutablePointer<CChar>?] = []
    for (i, string) in strings.enumerated() {
        let copy = strdup(string)
        copies.append(copy)
        list[i] = UnsafePointer(copy)
    }
    list[strings.count] = nil
    defer {
        for copy in copies { free(copy) }
        list.deallocate()
    }
    return body(list)
}
