import LibPQ
import Logging

/// A slave brought up to a fresh master snapshot, with both transactions
/// still open, for work that must see the master and the slave in the same
/// state (`copy-table`, `compare`).
///
/// Opening it locks the slave's progress row (a running replayer waits for
/// it), then opens the master's REPEATABLE READ transaction, whose snapshot
/// is therefore at or past the progress, and applies the batch between the
/// two in the slave's transaction, through the replayer's own apply path.
/// `commit()` advances the progress to the snapshot in that transaction,
/// exactly as a replayed batch does.
final class CaughtUpSlave {
    let host: HostConfig
    let masterID: String
    /// In a REPEATABLE READ read-only transaction at `snapshot`, with the
    /// output settings of `SlaveSession.sessionSettings` and TimeZone UTC.
    let master: Connection
    /// In its transaction, the progress row locked; same settings.
    let slave: SlaveSession
    let snapshot: MasterSnapshot
    /// Changes applied to catch up, and changes skipped (of the tables in `skipping`).
    private(set) var applied = 0
    private(set) var skipped = 0
    private let reader: QueueReader
    private let logger: Logger
    private var last: Change?
    private var open = true

    /// Session settings both sides share on top of `SlaveSession.sessionSettings`.
    static let sharedSettings = "SET TimeZone = 'UTC'"

    /// Catches `host` up, planning again (up to five times) when a replayer
    /// moves the progress meanwhile, and applying change by change when a
    /// set-based statement failed without naming its change (as `HostReplicator` does).
    ///
    /// - Parameter skipping: the capture names ("TableName") of tables whose changes are not applied.
    static func open(host: HostConfig, masterConninfo: String?, skipping: Set<String> = [], logger: Logger,
                     isCancelled: () -> Bool) throws(ReplayError) -> CaughtUpSlave {
        var attempt = 0
        var precise = false
        while true {
            attempt += 1
            do throws(ReplayError) {
                return try CaughtUpSlave(host: host, masterConninfo: masterConninfo, skipping: skipping, precise: precise,
                                         logger: logger, isCancelled: isCancelled)
            } catch where error.kind == .progressMoved && attempt < 5 {
                logger.info("\(error.message); planning again")
            } catch where error.retryPrecisely && !precise {
                logger.debug("a set-based statement failed (\(error.message)); catching up again change by change")
                precise = true
            } catch {
                var error = error
                error.host = host.name
                error.retryPrecisely = false
                throw error
            }
        }
    }

    private init(host: HostConfig, masterConninfo: String?, skipping: Set<String>, precise: Bool, logger: Logger,
                 isCancelled: () -> Bool) throws(ReplayError) {
        self.host = host
        self.logger = logger
        master = try MasterConnection.open(masterConninfo, logger: logger)
        masterID = try HostRegistry.masterID(on: master)
        do throws(PostgresError) {
            slave = try SlaveSession(conninfo: host.conninfo, settings: ApplySettings(), logger: logger)
            try slave.connection.executeScript(Self.sharedSettings)
        } catch {
            throw ReplayError(.slave, "cannot connect to the slave (\(ConnInfo.redacted(host.conninfo))): \(error.message)", postgres: error)
        }
        let (previous, createRow) = try Self.startingPoint(host: host, masterID: masterID, master: master, slave: slave)
        try slave.begin(masterID: masterID, previous: previous, createRow: createRow, synchronous: true)
        do throws(PostgresError) {
            try master.executeScript(SlaveSession.sessionSettings + Self.sharedSettings)
        } catch {
            slave.rollback()
            throw ReplayError(master: error)
        }
        reader = QueueReader(connection: master, logger: logger)
        do throws(ReplayError) {
            // Up to this transaction's snapshot, never a mark: the work
            // that follows reads the master in this same snapshot.
            let batch = try reader.begin(after: previous, endingAtMarks: false)
            snapshot = batch.current
            while true {
                if isCancelled() { throw ReplayError(.cancelled, "stopped while catching the slave up; rolled back") }
                let chunk = try reader.next(limit: 5000)
                guard let chunkLast = chunk.last else { break }
                let kept = skipping.isEmpty ? chunk : chunk.filter { !skipping.contains($0.table) }
                if !kept.isEmpty { try slave.apply(kept, precise: precise) }
                applied += kept.count
                skipped += chunk.count - kept.count
                last = chunkLast
            }
            try SequenceSync.apply(batch.sequences, on: slave.connection)
        } catch {
            slave.rollback()
            reader.end()
            throw error
        }
        if applied + skipped > 0 {
            logger.info("caught the slave up to the master's snapshot", metadata: [
                LogKey.changes: "\(applied)", "skipped": "\(skipped)", LogKey.snapshot: "\(snapshot)"])
        }
    }

    /// Where the slave stands, decided as `HostReplicator` decides it: its
    /// own progress row, else the master's record for it.
    private static func startingPoint(host: HostConfig, masterID: String, master: Connection,
                                      slave: SlaveSession) throws(ReplayError) -> (MasterSnapshot, createRow: Bool) {
        let recorded = try HostRegistry.recordedSnapshot(hostID: host.id, on: master)
        let progressText: String?
        do throws(PostgresError) {
            progressText = try ProgressTable.read(masterID: masterID, on: slave.connection)
        } catch {
            throw ReplayError(slave: error)
        }
        return try HostReplicator.startingPoint(progress: progressText, recorded: recorded)
    }

    /// Advances the slave's progress to `snapshot` and commits its
    /// transaction, ends the master's, and records the batch on the master.
    func commit() throws(ReplayError) {
        guard open else { return }
        open = false
        do throws(ReplayError) {
            _ = try slave.commit(masterID: masterID, snapshot: snapshot, lastXID: last?.xid, lastSeqID: last?.seqID)
        } catch {
            slave.rollback()
            reader.end()
            var error = error
            error.host = host.name
            throw error
        }
        reader.end()
        do throws(PostgresError) {
            try HostRegistry.recordApplied(hostID: host.id, snapshot: snapshot, lastXID: last?.xid, on: master)
        } catch {
            // The slave's progress row is the truth; the replayer records it later.
            logger.warning("could not record the slave's progress on the master: \(error)")
        }
    }

    /// Rolls both transactions back.
    func rollback() {
        guard open else { return }
        open = false
        slave.rollback()
        reader.end()
    }
}
