import LibPQ
import Logging

/// `dbmirror copy-table`: gives slaves that already replicate the current
/// contents of a table mirrored after they were added.
///
/// In one slave transaction, with the progress row locked (`CaughtUpSlave`):
/// the batch from the slave's progress to a fresh master snapshot is applied
/// without the table's own changes, the table is emptied and copied from
/// that same master transaction, and the progress advances to the snapshot.
/// Every other table gets exactly the changes a replayed batch would; the
/// table holds exactly what the snapshot sees, and replay goes on with the
/// transactions it does not see. See docs/DESIGN.md, "Initial copy".
public enum TableRecopy {
    /// Copies `table` (as the master names it) to each host of `hosts`, one after the other.
    ///
    /// - Throws: `.usage` for an unknown host, or a table that is not mirrored;
    ///   `.master` / `.slave` when a side fails; `.cancelled` on cancellation.
    public static func copy(table tableName: String, hosts hostNames: [String], master masterConninfo: String?,
                            createTable: Bool, logger: Logger) async throws(ReplayError) {
        try await onDedicatedThread(name: "dbmirror-copy-table") { () throws(ReplayError) in
            let listing = try MasterConnection.open(masterConninfo, logger: logger)
            let hosts = try HostRegistry.hosts(named: hostNames, on: listing)
            guard let table = try MirroredTables.select([tableName], on: listing).first else {
                throw ReplayError(.usage, "no mirrored table '\(tableName)' on the master")
            }
            for host in hosts {
                var hostLogger = logger
                hostLogger[metadataKey: LogKey.host] = "\(host.name)"
                try copy(table, to: host, listing: listing, masterConninfo: masterConninfo,
                         createTable: createTable, logger: hostLogger)
            }
        }
    }

    private static func copy(_ table: MirroredTable, to host: HostConfig, listing: Connection, masterConninfo: String?,
                             createTable: Bool, logger: Logger) throws(ReplayError) {
        if createTable {
            let creator: Connection
            do throws(PostgresError) {
                creator = try Connection(conninfo: host.conninfo, logger: logger)
            } catch {
                throw ReplayError(.slave, "cannot connect to the slave (\(ConnInfo.redacted(host.conninfo))): \(error.message)",
                                  host: host.name, postgres: error)
            }
            if try !SlaveTargets.missing([table], on: creator).isEmpty {
                try TableCreator(masterConninfo: masterConninfo, logger: logger).create([table], master: listing, slave: creator)
            }
        }
        let caught = try CaughtUpSlave.open(host: host, masterConninfo: masterConninfo, skipping: [table.captureName],
                                            logger: logger) { Task.isCancelled }
        do throws(ReplayError) {
            let target: SlaveTarget?
            do throws(PostgresError) {
                target = try SlaveTargets.find(table, on: caught.slave.connection)
            } catch {
                throw ReplayError(slave: error)
            }
            guard let target else {
                throw ReplayError(.slave, "the slave has no table \(table.captureName); create it with the master's definition (or use --create-table)")
            }
            try SlaveTargets.empty([target], on: caught.slave.connection)
            let counts = try TableCopier().copy(target, from: caught.master, to: caught.slave.connection, logger: logger) { Task.isCancelled }
            try caught.commit()
            logger.info("copied \(table.captureName) (\(CopyProgress.count(Double(counts.rows))) rows) as of master snapshot \(caught.snapshot); replay goes on from there",
                        metadata: [LogKey.snapshot: "\(caught.snapshot)"])
        } catch {
            caught.rollback()
            var error = error
            error.host = host.name
            throw error
        }
    }
}
