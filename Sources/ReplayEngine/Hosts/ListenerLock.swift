import LibPQ

/// The advisory lock a listening replayer holds on its master connection.
/// The capture (extension/pending.c) notifies only while someone holds it,
/// so a master that no replayer listens to (none running, or `run --once`
/// from cron) pays for no notifications.
///
/// A transaction that found the lock free just before the replayer took it
/// notifies nobody, and it may still have been running when the hosts read
/// the queue after connecting. `take(on:)` therefore returns the
/// transactions running once the lock is held, and the watcher wakes the
/// hosts again when `haveEnded(_:on:)` says they all have.
enum ListenerLock {
    /// "dbmirror" in ASCII as a bigint, the key pending.c tries.
    static let key = "7233464251169533810"

    /// Takes the lock (shared: any number of replayers may listen) and
    /// returns the transactions running right after, as xid8 text.
    static func take(on connection: Connection) throws(PostgresError) -> [String] {
        _ = try connection.execute("SELECT pg_advisory_lock_shared($1::bigint)", [key])
        let running = try connection.execute("SELECT pg_snapshot_xip(pg_current_snapshot())::text")
        return (0..<running.rowCount).compactMap { running.string(row: $0, column: 0) }
    }

    /// True once none of `transactions` is still running.
    static func haveEnded(_ transactions: [String], on connection: Connection) throws(PostgresError) -> Bool {
        let running = try connection.execute(
            "SELECT count(*) FROM unnest($1::xid8[]) AS x WHERE pg_xact_status(x) = 'in progress'",
            [ArrayLiteral.text(transactions)])
        return running.scalar == "0"
    }
}
