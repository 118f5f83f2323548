/// A master snapshot (`pg_snapshot`) in its text form `xmin:xmax:xip,…`.
///
/// A slave's progress is such a snapshot: the slave holds exactly the master
/// transactions that snapshot sees as committed.
public struct MasterSnapshot: Sendable, Hashable, CustomStringConvertible {
    /// The text as PostgreSQL prints it; compared as is (the output is canonical).
    public let text: String
    /// Transactions below this id are all finished.
    public let xmin: UInt64
    /// Transactions from this id on had not started.
    public let xmax: UInt64
    /// Transactions in progress when the snapshot was taken.
    public let inProgress: [UInt64]

    /// Parses `text`; nil when it is not a `pg_snapshot`.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let xmin = UInt64(parts[0]), let xmax = UInt64(parts[1]), xmin <= xmax else {
            return nil
        }
        var inProgress: [UInt64] = []
        if !parts[2].isEmpty {
            for item in parts[2].split(separator: ",", omittingEmptySubsequences: false) {
                guard let xid = UInt64(item), xid >= xmin, xid < xmax else { return nil }
                inProgress.append(xid)
            }
        }
        self.text = text
        self.xmin = xmin
        self.xmax = xmax
        self.inProgress = inProgress
    }

    public var description: String { text }

    /// True when the transaction `xid`, if committed, is seen by this
    /// snapshot (as `pg_visible_in_snapshot`).
    public func sees(_ xid: UInt64) -> Bool {
        xid < xmin || (xid < xmax && !inProgress.contains(xid))
    }

    /// True when `other` might see a committed transaction this snapshot
    /// does not, though this one was taken later: every transaction `other`
    /// treats as finished (below its xmin) that this one still treats as not
    /// started. A slave whose progress is behind the snapshot the master has
    /// recorded for it in this way has lost applied transactions.
    public func isBehind(_ other: MasterSnapshot) -> Bool {
        xmax < other.xmin
    }
}
