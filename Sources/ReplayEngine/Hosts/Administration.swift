import LibPQ
import Logging

/// The operator's commands on the master's host list: add, remove.
public enum Administration {
    /// Registers a slave. It is sent every transaction that commits after
    /// this (its starting snapshot is recorded by the master's trigger).
    ///
    /// - Throws: `.usage` when the connection string is invalid or holds a
    ///   password, or the name is taken; `.master` when the master fails.
    public static func addHost(name: String, conninfo: String, master: String?, logger: Logger) async throws(ReplayError) {
        try checkNewHost(name: name, conninfo: conninfo)
        try await onDedicatedThread(name: "dbmirror-admin") { () throws(ReplayError) in
            let connection = try MasterConnection.open(master, logger: logger)
            do throws(PostgresError) {
                try connection.execute(#"INSERT INTO "MirrorHost" ("HostName", "ConnInfo") VALUES ($1, $2)"#, [name, conninfo])
            } catch where error.sqlState == "23505" {
                throw ReplayError(.usage, "a host named '\(name)' is already registered")
            } catch {
                throw HostRegistry.setupError(error)
            }
        }
        logger.info("registered host", metadata: [LogKey.host: "\(name)", LogKey.conninfo: "\(ConnInfo.redacted(conninfo))"])
    }

    /// Checks a new host's name and connection string (also for `InitialCopy`).
    ///
    /// - Throws: `.usage` when the name is empty, or the connection string is
    ///   invalid or holds a password.
    static func checkNewHost(name: String, conninfo: String) throws(ReplayError) {
        guard !name.isEmpty else { throw ReplayError(.usage, "the host name must not be empty") }
        do throws(PostgresError) {
            _ = try ConnInfo.parse(conninfo)
        } catch {
            throw ReplayError(.usage, "the connection string for host '\(name)' is invalid: \(error.message)")
        }
        if ConnInfo.containsPassword(conninfo) {
            throw ReplayError(.usage, "the connection string for host '\(name)' contains a password; put it in the replayer's ~/.pgpass or a service file instead")
        }
    }

    /// Unregisters a slave and forgets its progress on the master; `clean`
    /// then drops the queued changes only it still needed.
    public static func removeHost(name: String, master: String?, logger: Logger) async throws(ReplayError) {
        try await onDedicatedThread(name: "dbmirror-admin") { () throws(ReplayError) in
            let connection = try MasterConnection.open(master, logger: logger)
            let removed: Int
            do throws(PostgresError) {
                // "MirroredTransaction" goes with it (ON DELETE CASCADE).
                removed = try connection.execute(#"DELETE FROM "MirrorHost" WHERE "HostName" = $1"#, [name]).affectedRows ?? 0
            } catch {
                throw HostRegistry.setupError(error)
            }
            guard removed == 1 else { throw ReplayError(.usage, "no host named '\(name)' is registered on the master") }
        }
        logger.info("removed host", metadata: [LogKey.host: "\(name)"])
    }
}

/// Opening the master connection, with errors that say it was the master.
enum MasterConnection {
    static func open(_ conninfo: String?, logger: Logger) throws(ReplayError) -> Connection {
        let opened: Connection
        let format: Int?
        let hasMarks: Bool
        do throws(PostgresError) {
            let connection = try Connection(conninfo: conninfo, logger: logger)
            // The planner overestimates the queue's row counts by orders of
            // magnitude (its statistics lag its churn), and JIT-compiling the
            // batch query then cost up to half its run time (measured when it
            // joined the whole batch; the cleanup's delete still joins).
            // A batch sorts all its "Pending" rows by "SeqId": a catch-up's
            // would spill to disk at the default work_mem. Raised to 128 MB
            // (a 1,000,000-change batch sorts in about 95 MB, in memory
            // about 15 % faster than merged from disk), never lowered: a
            // larger value the DBA gave the session (PGOPTIONS, the
            // conninfo's options, ALTER ROLE) stays.
            _ = try connection.executeScript("""
                SET jit = off;
                SELECT set_config('work_mem', '128MB', false)
                WHERE pg_size_bytes(current_setting('work_mem')) < 128 * 1024 * 1024
                """)
            // What the queue's set-up installed, in one round trip. (A master
            // with no queue at all gets the setup error later.)
            let installed = try connection.execute(#"""
                SELECT to_regprocedure('dbmirror_queue_format()') IS NOT NULL,
                       to_regclass('"Pending"') IS NULL OR to_regclass('"PendingMark"') IS NOT NULL
                """#)
            // The row format the capture writes; nil for a queue set up before
            // the format had a version, older than any this replayer reads.
            format = installed.string(row: 0, column: 0) == "t"
                ? try connection.execute("SELECT dbmirror_queue_format()").scalar.flatMap { Int($0) } : nil
            hasMarks = installed.string(row: 0, column: 1) == "t"
            opened = connection
        } catch {
            throw ReplayError(.master, "cannot connect to the master: \(error.message)", postgres: error)
        }
        // A queue in a newer format would be misread, not refused.
        if let format, format > queueFormat {
            throw ReplayError(.master, "the capture on the master writes queue format \(format), but this dbmirror "
                              + "reads formats up to \(queueFormat): upgrade dbmirror to the capture's version (docs/FORMAT.md)")
        }
        guard hasMarks else {
            throw ReplayError(.master, #"the master's queue has no "PendingMark" table (it was set up by an older "#
                              + "MirrorSetup.sql): run this version's MirrorSetup.sql on the master; it keeps the queue and the hosts")
        }
        return opened
    }

    /// The newest queue row format (docs/FORMAT.md) this replayer reads.
    static let queueFormat = 2
}
