import LibPQ
import Logging

/// `dbmirror compare`: whether each slave's copy of each mirrored table
/// equals the master's, both compared at the same master state.
///
/// Per host: the slave is caught up to a fresh master snapshot inside its
/// transaction, with the progress row locked (`CaughtUpSlave`); each table
/// is compared in that slave transaction and the master's REPEATABLE READ
/// transaction (`TableComparer`); the slave's transaction then commits, as
/// a replayed batch would (the changes it applied are ordinary replay).
public enum Comparison {
    /// Compares `tables` (all mirrored tables when empty) on `hosts` (all when empty).
    ///
    /// - Returns: one entry per host, in name order; a host that could not
    ///   be compared carries its error and no tables.
    /// - Throws: `.usage` for an unknown host or table; `.master` when the
    ///   master cannot be used; `.cancelled` on cancellation.
    public static func run(master masterConninfo: String?, hosts hostNames: [String], tables tableNames: [String],
                           logger: Logger) async throws(ReplayError) -> [HostComparison] {
        try await onDedicatedThread(name: "dbmirror-compare") { () throws(ReplayError) -> [HostComparison] in
            let listing = try MasterConnection.open(masterConninfo, logger: logger)
            _ = try HostRegistry.masterID(on: listing)
            let hosts = try HostRegistry.hosts(named: hostNames, on: listing)
            let tables = try MirroredTables.select(tableNames, on: listing)
            if hosts.isEmpty { logger.warning("no hosts are registered on the master; nothing to compare") }
            var results: [HostComparison] = []
            for host in hosts {
                if Task.isCancelled { throw ReplayError(.cancelled, "interrupted before every host was compared") }
                var hostLogger = logger
                hostLogger[metadataKey: LogKey.host] = "\(host.name)"
                do throws(ReplayError) {
                    results.append(try compare(host, tables: tables, masterConninfo: masterConninfo, logger: hostLogger))
                } catch where error.kind != .cancelled {
                    hostLogger.error("\(error)")
                    results.append(HostComparison(host: host.name, snapshot: nil, tables: [], error: error.description))
                }
            }
            return results
        }
    }

    private static func compare(_ host: HostConfig, tables: [MirroredTable], masterConninfo: String?,
                                logger: Logger) throws(ReplayError) -> HostComparison {
        let caught = try CaughtUpSlave.open(host: host, masterConninfo: masterConninfo, logger: logger) { Task.isCancelled }
        var results: [TableComparison] = []
        do throws(ReplayError) {
            for table in tables {
                if Task.isCancelled { throw ReplayError(.cancelled, "interrupted during the comparison") }
                let target: SlaveTarget?
                do throws(PostgresError) {
                    target = try SlaveTargets.find(table, on: caught.slave.connection)
                } catch {
                    throw ReplayError(slave: error)
                }
                guard let target else {
                    let none = TableComparison.Keys(count: 0, sample: [])
                    results.append(TableComparison(host: host.name, table: table.captureName, outcome: .missingOnSlave,
                                                   masterRows: 0, slaveRows: nil,
                                                   changed: none, missingOnSlave: none, extraOnSlave: none))
                    continue
                }
                let clock = ContinuousClock()
                let start = clock.now
                let result = try TableComparer().compare(target, host: host.name, master: caught.master, slave: caught.slave.connection)
                logger.debug("compared \(table.captureName): \(result.outcome.rawValue) in \(clock.now - start)")
                results.append(result)
            }
            try caught.commit()
        } catch {
            caught.rollback()
            var error = error
            error.host = host.name
            throw error
        }
        return HostComparison(host: host.name, snapshot: caught.snapshot.text, tables: results, error: nil)
    }
}
