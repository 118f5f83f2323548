/// How `dbmirror run` works; the defaults suit most set-ups.
public struct ReplaySettings: Sendable {
    /// The master's connection string; nil for libpq's defaults (PG* variables).
    public var masterConninfo: String?
    /// The hosts to replay to, by name; empty for all.
    public var hostNames: [String] = []
    /// Changes fetched from the master and applied at a time (bounds memory).
    public var chunkSize: Int = 5000
    public var apply = ApplySettings()
    /// With no notification, look for changes this often.
    public var idleInterval: Duration = .seconds(5)
    /// While changes keep coming (the last batch carried more than one
    /// transaction), start a batch at most this often: every batch costs
    /// the master and the slave a few round trips whatever its size.
    public var batchInterval: Duration = .milliseconds(50)
    /// Re-read "MirrorHost" this often (and on notifications, at most every second).
    public var hostRefreshInterval: Duration = .seconds(5)
    /// Delete applied changes from the queue at most this often.
    public var cleanupInterval: Duration = .seconds(5)
    /// Statements of at most 10,000 changes each per cleanup round while running.
    public var cleanupStatementsPerRound: Int = 20
    /// Retry delays for a failed host.
    public var retryInitial: Duration = .seconds(1)
    public var retryMaximum: Duration = .seconds(60)

    public init(masterConninfo: String?) {
        self.masterConninfo = masterConninfo
    }
}
