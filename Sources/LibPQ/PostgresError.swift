import CLibPQ

/// A failure reported by libpq or by the server.
///
/// `description` names the kind, the SQLSTATE and the server's primary
/// message; it leaves out the detail, context and statement, which can carry
/// row values. `debugDescription` has everything.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong, in broad terms. Extensible: compare with the static members.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        private init(_ description: String) { self.description = description }

        /// The connection could not be opened.
        public static let connectionFailed = Kind("connection failed")
        /// An open connection broke (server gone, network cut).
        public static let connectionLost = Kind("connection lost")
        /// The server executed the statement and reported an error.
        public static let server = Kind("server error")
        /// The server answered with something the caller did not expect.
        public static let unexpectedResult = Kind("unexpected result")
        /// A connection string could not be parsed.
        public static let invalidConninfo = Kind("invalid connection string")
        /// A caller-side misuse: a statement text or parameter libpq cannot carry.
        public static let invalidArgument = Kind("invalid argument")
    }

    public var kind: Kind
    /// The five-character SQLSTATE, when the server sent one.
    public var sqlState: String?
    /// The primary message, from the server or from libpq.
    public var message: String
    public var detail: String?
    public var hint: String?
    /// The 1-based character position of the error in the statement text.
    public var position: Int?
    /// The server's CONTEXT field (where in a function or COPY the error arose).
    public var context: String?
    /// The statement text (never its parameter values), when known.
    public var statement: String?

    public init(
        kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil,
        hint: String? = nil, position: Int? = nil, context: String? = nil, statement: String? = nil
    ) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.position = position
        self.context = context
        self.statement = statement
    }

    public var description: String {
        if let sqlState {
            return "\(kind): \(message) (SQLSTATE \(sqlState))"
        }
        return "\(kind): \(message)"
    }

    public var debugDescription: String {
        var text = description
        if let detail { text += "\nDETAIL: \(detail)" }
        if let hint { text += "\nHINT: \(hint)" }
        if let context { text += "\nCONTEXT: \(context)" }
        if let position { text += "\nPOSITION: \(position)" }
        if let statement { text += "\nSTATEMENT: \(statement)" }
        return text
    }

    /// True when the error means the connection is unusable and must be reopened.
    public var isConnectionFailure: Bool {
        if kind == .connectionFailed || kind == .connectionLost { return true }
        // Class 08: connection exception; 57P01..57P03: the server is going away.
        if let sqlState {
            return sqlState.hasPrefix("08") || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P03"
        }
        return false
    }
}

extension PostgresError {
    /// The error carried by a failed `PGresult`.
    init(result: OpaquePointer, statement: String?) {
        func field(_ code: UInt8) -> String? {
            guard let cString = PQresultErrorField(result, Int32(code)) else { return nil }
            return String(cString: cString)
        }
        let primary = field(UInt8(ascii: "M")) ?? Self.trimmed(PQresultErrorMessage(result)) ?? "unknown error"
        self.init(
            kind: .server,
            sqlState: field(UInt8(ascii: "C")),
            message: primary,
            detail: field(UInt8(ascii: "D")),
            hint: field(UInt8(ascii: "H")),
            position: field(UInt8(ascii: "P")).flatMap { Int($0) },
            context: field(UInt8(ascii: "W")),
            statement: statement
        )
    }

    /// The error libpq holds on a connection (`PQerrorMessage`).
    init(connection: OpaquePointer, kind: Kind, statement: String? = nil) {
        let lost = PQstatus(connection) != CONNECTION_OK
        self.init(
            kind: lost && kind == .server ? .connectionLost : kind,
            message: Self.trimmed(PQerrorMessage(connection)) ?? "unknown libpq error",
            statement: statement
        )
    }

    /// libpq's message as one line: its line breaks and indentation become
    /// single spaces, so a log line stays one line.
    static func trimmed(_ cString: UnsafePointer<CChar>?) -> String? {
        guard let cString else { return nil }
        let pieces = String(cString: cString).split(whereSeparator: { $0 == "\n" || $0 == "\t" || $0 == "\r" })
        let text = pieces.map { piece in
            piece.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()
        }.filter { !$0.isEmpty }.map { String($0) }.joined(separator: " ")
        return text.isEmpty ? nil : text
    }
}
