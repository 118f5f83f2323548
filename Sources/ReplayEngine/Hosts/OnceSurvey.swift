import LibPQ
import Logging

/// Before `--once` replays: the selected hosts and where each one starts,
/// so that hosts at the same progress can share one read of the master.
struct OnceSurvey: Sendable {
    var masterID: String
    var hosts: [HostConfig]
    /// Hosts to replay on their own (a slave that could not be asked: its
    /// own replay reports why).
    var alone: [HostConfig]
    /// Hosts that share one read of the master, on a thread of its own
    /// that reads ahead of the slaves (also when there is one).
    var shared: [SharedBatch.Member]

    /// Reads the host list and the master's records, and asks each slave
    /// for its progress (one short connection each).
    static func take(settings: ReplaySettings, logger: Logger) throws(ReplayError) -> OnceSurvey {
        let master = try MasterConnection.open(settings.masterConninfo, logger: logger)
        let masterID = try HostRegistry.masterID(on: master)
        let hosts = try HostRegistry.hosts(named: settings.hostNames, on: master)
        var alone: [HostConfig] = []
        var shared: [SharedBatch.Member] = []
        for host in hosts {
            if let (start, createRow) = try? startingPoint(of: host, masterID: masterID, master: master, logger: logger) {
                shared.append(SharedBatch.Member(host: host, previous: start, createRow: createRow))
            } else {
                alone.append(host)
            }
        }
        return OnceSurvey(masterID: masterID, hosts: hosts, alone: alone, shared: shared)
    }

    /// The host's starting point, as `HostReplicator` would find it.
    private static func startingPoint(of host: HostConfig, masterID: String, master: Connection,
                                      logger: Logger) throws(ReplayError) -> (MasterSnapshot, Bool) {
        let recorded = try HostRegistry.recordedSnapshot(hostID: host.id, on: master)
        let progress: String?
        do throws(PostgresError) {
            let slave = try Connection(conninfo: host.conninfo, logger: logger)
            let hasTable = try slave.execute("SELECT to_regclass('dbmirror.progress') IS NOT NULL").scalar == "t"
            progress = hasTable ? try ProgressTable.read(masterID: masterID, on: slave) : nil
        } catch {
            throw ReplayError(slave: error)
        }
        return try HostReplicator.startingPoint(progress: progress, recorded: recorded)
    }
}
