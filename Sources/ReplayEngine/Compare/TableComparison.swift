/// How one slave's copy of one mirrored table compares with the master's.
public struct TableComparison: Sendable, Codable, Equatable {
    public enum Outcome: String, Sendable, Codable {
        case equal
        case different
        /// The slave has no such table.
        case missingOnSlave = "missing on slave"
    }

    /// Keys that differ one way: how many, and up to ten of them, as
    /// `(key columns)=(values)` like PostgreSQL's own key messages.
    public struct Keys: Sendable, Codable, Equatable {
        public var count: Int
        public var sample: [String]
    }

    public var host: String
    /// The table, as the capture names it.
    public var table: String
    public var outcome: Outcome
    public var masterRows: Int
    /// nil when the slave has no such table.
    public var slaveRows: Int?
    /// Rows whose key both sides have, with other values.
    public var changed: Keys
    public var missingOnSlave: Keys
    public var extraOnSlave: Keys
}

/// One slave's comparison: every table, compared at one master snapshot;
/// or why it could not be compared.
public struct HostComparison: Sendable, Codable, Equatable {
    public var host: String
    /// The master snapshot both sides were compared at.
    public var snapshot: String?
    public var tables: [TableComparison]
    /// Why the host could not be compared; nil when it was.
    public var error: String?

    /// True when the host was compared and every table is equal.
    public var isEqual: Bool { error == nil && tables.allSatisfy { $0.outcome == .equal } }
}
