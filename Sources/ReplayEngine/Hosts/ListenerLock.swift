import LibPQ

/// The advisory lock a listening replayer holds on its master connection,
/// and when it holds it. The capture (extension/pending.c) notifies only
/// while someone holds the lock, so a master that no replayer listens to
/// (none running, or `run --once` from cron) pays for no notifications.
///
/// A notification makes the watcher wake every host, which then reads the
/// queue: commits in the moments after need not notify as well. So the
/// watcher lets the lock go for `quietPeriod` after a notification, and
/// takes it again after that, waking the hosts once more for whatever
/// committed meanwhile. Under a steady load the master then notifies about
/// once per quiet period instead of once per transaction.
///
/// A transaction that checked the lock while it was free and commits only
/// after the lock is taken again notifies nobody, and the wake-up that
/// follows taking the lock may come before that commit: `take(on:)` notes
/// the transactions running at that moment, and `afterWait` wakes the hosts
/// again whenever some of them have ended.
struct ListenerLock {
    /// "dbmirror" in ASCII as a bigint, the key pending.c tries.
    static let key = "7233464251169533810"
    /// How long the lock stays free after a notification.
    static let quietPeriod: Duration = .milliseconds(20)
    /// How often to ask whether the noted transactions have ended.
    static let checkInterval: Duration = .milliseconds(250)

    private let clock = ContinuousClock()
    private var freeUntil: ContinuousClock.Instant?
    private var unannounced: Set<String> = []
    private var lastCheck: ContinuousClock.Instant

    /// Takes the lock on a new connection (after its LISTEN).
    init(on connection: Connection) throws(PostgresError) {
        lastCheck = clock.now
        try take(on: connection)
    }

    /// How long the watcher may wait for notifications: at most `limit`,
    /// and no longer than the lock is to stay free.
    func waitLimit(_ limit: Duration) -> Duration {
        guard let freeUntil else { return limit }
        // whole milliseconds (what poll() takes), rounded up: no spinning
        return max(.zero, min(limit, freeUntil - clock.now + .milliseconds(1)))
    }

    /// After a wait for notifications (the hosts already woken if there
    /// were any): lets the lock go after a notification, takes it back once
    /// the quiet period is over, and asks about the noted transactions.
    /// Returns true when the hosts must read the queue again.
    mutating func afterWait(notified: Bool, on connection: Connection) throws(PostgresError) -> Bool {
        var wake = false
        if let until = freeUntil {
            if clock.now >= until {
                try take(on: connection)
                wake = true  // what committed while the lock was free sent nothing
            }
        } else if notified {
            _ = try connection.execute("SELECT pg_advisory_unlock_shared($1::bigint)", [Self.key])
            freeUntil = clock.now + Self.quietPeriod
        }
        if !unannounced.isEmpty, clock.now - lastCheck >= Self.checkInterval {
            lastCheck = clock.now
            let running = try Self.stillRunning(Array(unannounced), on: connection)
            if running.count < unannounced.count {
                unannounced = running
                wake = true
            }
        }
        return wake
    }

    /// Takes the lock (shared: any number of replayers may listen) and notes
    /// the transactions running right after.
    private mutating func take(on connection: Connection) throws(PostgresError) {
        _ = try connection.execute("SELECT pg_advisory_lock_shared($1::bigint)", [Self.key])
        freeUntil = nil
        let running = try connection.execute("SELECT pg_snapshot_xip(pg_current_snapshot())::text")
        for row in 0..<running.rowCount {
            if let xid = running.string(row: row, column: 0) { unannounced.insert(xid) }
        }
    }

    /// Those of `transactions` still running.
    private static func stillRunning(_ transactions: [String], on connection: Connection) throws(PostgresError) -> Set<String> {
        let running = try connection.execute(
            "SELECT x::text FROM unnest($1::xid8[]) AS x WHERE pg_xact_status(x) = 'in progress'",
            [ArrayLiteral.text(transactions)])
        return Set((0..<running.rowCount).compactMap { running.string(row: $0, column: 0) })
    }
}
