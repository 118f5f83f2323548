import LibPQ

/// Why replaying to a host failed.
///
/// The description is written for the operator: it names the host, the
/// change (XID, SeqId, table, key) and the server's message and SQLSTATE.
/// Such a message can contain row values; it goes to the log and to the
/// master's "MirroredTransaction"."LastError", both the operator's.
public struct ReplayError: Error, Sendable, CustomStringConvertible {
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        private init(_ description: String) { self.description = description }

        /// One change could not be applied on the slave, or could not be read.
        public static let change = Kind("change failed")
        /// The slave could not be reached or failed outside any one change.
        public static let slave = Kind("slave failed")
        /// The master could not be reached or failed.
        public static let master = Kind("master failed")
        /// Another replayer moved the slave's progress while this one planned a batch.
        public static let progressMoved = Kind("progress moved")
        /// The host cannot start: no progress on the slave and no snapshot on the master.
        public static let noStartingPoint = Kind("no starting point")
        /// The slave's progress is behind what the master recorded: it lost transactions.
        public static let progressLost = Kind("progress lost")
        /// The run was stopped while the batch was being applied.
        public static let cancelled = Kind("cancelled")
        /// A name given by the operator does not exist, or a similar usage error.
        public static let usage = Kind("usage")
    }

    public var kind: Kind
    public var message: String
    /// The host (slave) concerned, when there is one.
    public var host: String?
    /// The change that failed, when there is one.
    public var change: ChangeLocation?
    /// The underlying libpq or server error.
    public var postgres: PostgresError?
    /// A set-based statement failed and the failing change is not known:
    /// applying the batch again change by change will name it.
    var retryPrecisely = false

    public init(_ kind: Kind, _ message: String, host: String? = nil, change: ChangeLocation? = nil,
                postgres: PostgresError? = nil) {
        self.kind = kind
        self.message = message
        self.host = host
        self.change = change
        self.postgres = postgres
    }

    /// A master-side failure.
    init(master error: PostgresError) {
        self.init(.master, "master: \(Self.serverText(error))", postgres: error)
    }

    /// A slave-side failure outside any one change.
    init(slave error: PostgresError) {
        self.init(.slave, "slave: \(Self.serverText(error))", postgres: error)
    }

    /// A failure of one change on the slave.
    init(change: ChangeLocation, slave error: PostgresError) {
        self.init(.change, Self.serverText(error), change: change, postgres: error)
    }

    /// The server's message with its SQLSTATE and detail (which names key values).
    static func serverText(_ error: PostgresError) -> String {
        var text = error.message
        if let sqlState = error.sqlState { text += " (SQLSTATE \(sqlState))" }
        if let detail = error.detail { text += ": \(detail)" }
        return text
    }

    public var description: String {
        var text = host.map { "host \($0): " } ?? ""
        if let change {
            text += "cannot apply \(change): "
        }
        return text + message
    }

    /// True when retrying later may succeed without anyone changing anything
    /// (a connection broke, another replayer raced this one).
    public var isTransient: Bool {
        if kind == .progressMoved { return true }
        return postgres?.isConnectionFailure ?? false
    }
}
