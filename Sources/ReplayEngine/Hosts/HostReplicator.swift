import LibPQ
import Logging

/// Replays batches to one host. Owns that host's two connections (to the
/// master and to the slave) and must stay on one thread (see `DedicatedThread`).
final class HostReplicator {
    let host: HostConfig
    let settings: ReplaySettings
    let logger: Logger
    private var master: Connection?
    /// A second master connection for the queue's upkeep while a batch
    /// starts (`QueueIndexes.startSummary`); kept only while batches are
    /// large, so a replayer that keeps up holds one master connection per host.
    private var upkeep: Connection?
    /// The size of this session's last batch (nil before the first).
    private var lastBatchChanges: Int?
    private var slave: SlaveSession?
    private var masterID: String?
    /// The slave's progress as this session last committed it.
    private var knownProgress: MasterSnapshot?
    /// An applied batch not yet recorded on the master, waiting for the
    /// slave to flush its commit.
    private var unrecorded: (snapshot: MasterSnapshot, lastXID: UInt64?, lsn: String)?

    /// What one batch did.
    struct Summary {
        var changes: Int
        var transactions: Int
        var snapshot: MasterSnapshot
        var lastXID: UInt64?
        /// It ended at a mark: more is committed behind it (`QueueReader`).
        var endsAtMark: Bool
    }

    init(host: HostConfig, settings: ReplaySettings, logger: Logger) {
        self.host = host
        self.settings = settings
        var logger = logger
        logger[metadataKey: LogKey.host] = "\(host.name)"
        self.logger = logger
    }

    /// True while an applied batch waits to be recorded on the master.
    var hasUnrecordedBatch: Bool { unrecorded != nil }

    /// Applies everything committed on the master since the slave's progress,
    /// or up to the first mark after it, in one slave transaction, and
    /// advances the progress with it.
    ///
    /// - Parameter synchronous: commit on the slave with synchronous_commit
    ///   on and record the batch on the master at once (`--once`); otherwise
    ///   commit asynchronously and record it once the slave has flushed it.
    func runBatch(synchronous: Bool, isCancelled: () -> Bool) throws(ReplayError) -> Summary {
        do throws(ReplayError) {
            do throws(ReplayError) {
                return try batch(synchronous: synchronous, precise: false, isCancelled: isCancelled)
            } catch where error.retryPrecisely {
                // Apply it again change by change, to name the failing change
                // (or succeed, if the fast plan was the trouble).
                logger.debug("a set-based statement failed (\(error.message)); applying the batch again change by change")
                slave = nil
                return try batch(synchronous: synchronous, precise: true, isCancelled: isCancelled)
            }
        } catch {
            var error = error
            error.host = host.name
            error.retryPrecisely = false
            throw error
        }
    }

    /// Where this slave stands, and whether its progress row must be
    /// created: its own progress row is the truth (remembered between
    /// batches of this session: the lock at the start of the next batch
    /// checks it); the master's record is where a new slave starts, and a check.
    private func startingPoint(master: Connection, slave: SlaveSession, masterID: String) throws(ReplayError) -> (MasterSnapshot, Bool) {
        if let known = knownProgress { return (known, false) }
        let recorded = try HostRegistry.recordedSnapshot(hostID: host.id, on: master)
        let progressText: String?
        do throws(PostgresError) {
            progressText = try ProgressTable.read(masterID: masterID, on: slave.connection)
        } catch {
            throw ReplayError(slave: error)
        }
        return try Self.startingPoint(progress: progressText, recorded: recorded)
    }

    /// Where a slave starts, from its progress row's text (nil: none) and
    /// the master's record for it; true when the progress row must be created.
    static func startingPoint(progress progressText: String?, recorded: MasterSnapshot?) throws(ReplayError) -> (MasterSnapshot, Bool) {
        if let progressText {
            guard let progress = MasterSnapshot(progressText) else {
                throw ReplayError(.slave, "dbmirror.progress holds an unreadable snapshot '\(progressText)'")
            }
            if let recorded, progress.isBehind(recorded) {
                throw ReplayError(.progressLost, """
                    the slave's progress (\(progress)) is behind what the master recorded as applied there (\(recorded)): \
                    the slave lost transactions (restored from a backup, or the host was removed and added again). \
                    Re-copy the slave's tables, then delete its dbmirror.progress row to restart from the master's record.
                    """)
            }
            return (progress, false)
        } else if let recorded {
            return (recorded, true)
        } else {
            throw ReplayError(.noStartingPoint, #"""
                the slave has no dbmirror.progress row and the master no "MirroredTransaction" row for it: \
                its initial copy (add-host --copy) is still running or did not finish; \
                wait for the copy, or run add-host --copy again
                """#)
        }
    }

    private func batch(synchronous: Bool, precise: Bool, isCancelled: () -> Bool) throws(ReplayError) -> Summary {
        let master = try masterConnection()
        let masterID: String
        if let known = self.masterID {
            masterID = known
        } else {
            masterID = try HostRegistry.masterID(on: master)
            self.masterID = masterID
        }
        let slave = try slaveSession()
        let (previous, createRow) = try startingPoint(master: master, slave: slave, masterID: masterID)

        let reader = QueueReader(connection: master, logger: logger)
        // A far slave takes a backlog whole: a part would cost it round trips.
        let batch = try reader.begin(after: previous, limit: settings.chunkSize, upkeep: upkeepConnection(),
                                     endingAtMarks: !slave.isFar)
        defer { reader.end() }
        // A batch that ends at a mark has another behind it: only the last
        // one's commit waits for the flush, which makes the earlier durable too.
        let synchronous = synchronous && !batch.endsAtMark
        var changes = 0
        var transactions = 0
        var last: Change?
        var lastXID: UInt64?
        let clock = ContinuousClock()
        let batchStart = clock.now
        var readTime = Duration.zero
        var applyTime = Duration.zero
        do throws(ReplayError) {
            try slave.begin(masterID: masterID, previous: previous, createRow: createRow, synchronous: synchronous)
            while true {
                if isCancelled() {
                    throw ReplayError(.cancelled, "stopped before the batch was complete; it was rolled back")
                }
                let fetchStart = clock.now
                let chunk = try reader.next(limit: settings.chunkSize)
                readTime += clock.now - fetchStart
                guard let chunkLast = chunk.last else { break }
                // The master reads the next chunk while this one is applied.
                if reader.mayHaveMore {
                    try reader.prefetch(limit: settings.chunkSize)
                }
                for change in chunk where change.xid != lastXID {
                    // Counted per run of one XID: exact unless transactions interleave.
                    transactions += 1
                    lastXID = change.xid
                }
                let applyStart = clock.now
                try slave.apply(chunk, precise: precise, servicing: reader.prefetching, keepPipelineOpen: true)
                applyTime += clock.now - applyStart
                changes += chunk.count
                last = chunkLast
            }
            let lsn = try slave.commit(masterID: masterID, snapshot: batch.current, sequences: batch.sequences,
                                       lastXID: last?.xid, lastSeqID: last?.seqID)
            knownProgress = batch.current
            // An empty batch still advances the snapshot; the last XID stays.
            unrecorded = (batch.current, last?.xid ?? unrecorded?.lastXID, lsn)
        } catch {
            slave.rollback()
            knownProgress = nil
            throw error
        }
        reader.end()
        lastBatchChanges = changes
        if synchronous {
            try recordIfDurable(assumeDurable: true)
        } else {
            try recordIfDurable(assumeDurable: false)
        }
        logger.debug("batch timings", metadata: [
            "read": "\(readTime)", "apply": "\(applyTime)", "total": "\(clock.now - batchStart)"])
        if changes > 0 {
            logger.info("applied batch", metadata: [
                LogKey.changes: "\(changes)", "transactions": "\(transactions)",
                LogKey.xid: "\(last?.xid ?? 0)", LogKey.snapshot: "\(batch.current)"])
        } else {
            logger.debug("nothing to apply", metadata: [LogKey.snapshot: "\(batch.current)"])
        }
        return Summary(changes: changes, transactions: transactions, snapshot: batch.current, lastXID: last?.xid,
                       endsAtMark: batch.endsAtMark)
    }

    /// Records the last applied batch on the master once the slave has
    /// flushed its commit (so cleanup never drops changes a crashed slave
    /// would still need).
    func recordIfDurable(assumeDurable: Bool = false) throws(ReplayError) {
        do throws(ReplayError) {
            try record(assumeDurable: assumeDurable)
        } catch {
            var error = error
            error.host = host.name
            throw error
        }
    }

    private func record(assumeDurable: Bool) throws(ReplayError) {
        guard let pending = unrecorded, let slave, let master else { return }
        if !assumeDurable {
            guard try slave.isDurable(pending.lsn) else { return }
        }
        do throws(PostgresError) {
            try HostRegistry.recordApplied(hostID: host.id, snapshot: pending.snapshot, lastXID: pending.lastXID, on: master)
        } catch {
            throw ReplayError(master: error)
        }
        unrecorded = nil
    }

    /// Stores `error` as the host's "LastError" on the master, if the master is reachable.
    func recordFailure(_ error: ReplayError) {
        do throws(ReplayError) {
            let master = try masterConnection()
            do throws(PostgresError) {
                try HostRegistry.recordError(hostID: host.id, message: error.description, on: master)
            } catch {
                throw ReplayError(master: error)
            }
        } catch {
            logger.debug("could not record the error on the master: \(error)")
        }
    }

    /// Drops the connections after a failure; the next batch reconnects.
    func reset(after error: ReplayError) {
        slave = nil
        knownProgress = nil
        unrecorded = nil
        if error.kind == .master || error.postgres?.isConnectionFailure == true {
            master = nil
            upkeep = nil
        }
    }

    /// Closes both connections.
    func close() {
        slave = nil
        master = nil
        upkeep = nil
    }

    private func masterConnection() throws(ReplayError) -> Connection {
        if let master, master.isOpen { return master }
        let connection = try MasterConnection.open(settings.masterConninfo, logger: logger)
        master = connection
        return connection
    }

    /// The upkeep connection for the next batch: at the session's first
    /// batch (a catch-up, likely) and after a batch of a full chunk or more.
    private func upkeepConnection() -> Connection? {
        guard lastBatchChanges.map({ $0 >= settings.chunkSize }) ?? true else {
            upkeep = nil
            return nil
        }
        if let upkeep, upkeep.isOpen { return upkeep }
        upkeep = QueueIndexes.openUpkeep(settings.masterConninfo, logger: logger)
        return upkeep
    }

    private func slaveSession() throws(ReplayError) -> SlaveSession {
        if let slave, slave.connection.isOpen { return slave }
        do throws(PostgresError) {
            let session = try SlaveSession(conninfo: host.conninfo, settings: settings.apply, logger: logger)
            slave = session
            return session
        } catch {
            throw ReplayError(.slave, "cannot connect to the slave (\(ConnInfo.redacted(host.conninfo))): \(error.message)",
                              postgres: error)
        }
    }
}
