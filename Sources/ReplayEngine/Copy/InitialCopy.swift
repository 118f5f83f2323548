import LibPQ
import Logging

/// How `add-host --copy` copies.
public struct CopyOptions: Sendable {
    /// Create the mirrored tables the slave lacks from the master's definitions.
    public var createTables = false
    /// Tables copied at once, each pair of connections in a worker of its own.
    public var jobs = 1

    public init(createTables: Bool = false, jobs: Int = 1) {
        self.createTables = createTables
        self.jobs = jobs
    }
}

/// `dbmirror add-host --copy`: registers a slave and gives it the current
/// contents of every mirrored table, from one master snapshot that becomes
/// the slave's progress, so replay then applies exactly the transactions
/// that snapshot did not see. The steps, and what an interruption at each
/// leaves, are in docs/DESIGN.md, "Initial copy".
public enum InitialCopy {
    /// Registers host `name` at `conninfo` and copies the mirrored tables to it.
    ///
    /// Running it again for the same name starts over: the slave's tables
    /// are emptied and copied again.
    ///
    /// - Throws: `.usage` for a bad name or connection string, or when
    ///   another copy into the slave runs; `.master` / `.slave` when a side
    ///   fails; `.cancelled` when the task is cancelled (SIGINT).
    public static func addHost(name: String, conninfo: String, master: String?, options: CopyOptions,
                               logger: Logger) async throws(ReplayError) {
        try Administration.checkNewHost(name: name, conninfo: conninfo)
        guard options.jobs >= 1 else { throw ReplayError(.usage, "--jobs must be at least 1, not \(options.jobs)") }
        var logger = logger
        logger[metadataKey: LogKey.host] = "\(name)"
        let hostLogger = logger
        try await onDedicatedThread(name: "dbmirror-copy") { () async throws(ReplayError) in
            try await copy(name: name, conninfo: conninfo, masterConninfo: master, options: options, logger: hostLogger)
        }
    }

    private static func copy(name: String, conninfo: String, masterConninfo: String?, options: CopyOptions,
                             logger: Logger) async throws(ReplayError) {
        let clock = ContinuousClock()
        let start = clock.now
        let master = try MasterConnection.open(masterConninfo, logger: logger)
        let masterID = try HostRegistry.masterID(on: master)
        let tables = try MirroredTables.list(on: master)
        if tables.isEmpty {
            logger.warning("the master mirrors no tables yet: registering the host with nothing to copy")
        }
        let slave = try openSlave(conninfo, logger: logger)
        try SlaveCopyLock.acquire(masterID: masterID, on: slave.connection)

        // Check everything the copy needs before changing anything.
        if options.createTables {
            let missing = try SlaveTargets.missing(tables, on: slave.connection)
            if !missing.isEmpty {
                let creator = try openSlave(conninfo, logger: logger).connection
                try TableCreator(masterConninfo: masterConninfo, logger: logger).create(missing, master: master, slave: creator)
            }
        }
        let targets = try SlaveTargets.resolve(tables, on: slave.connection)

        // 1. Register the host with no starting point: no replayer touches
        //    the slave, and the queue keeps everything, until step 4.
        let (host, replaced) = try CopyRegistration.register(name: name, conninfo: conninfo, on: master)
        logger.info(replaced ? "host was registered: registered it again, to copy everything afresh" : "registered host",
                    metadata: [LogKey.conninfo: "\(ConnInfo.redacted(conninfo))"])
        let snapshot: MasterSnapshot
        let total: (rows: Int, bytes: Int)
        do throws(ReplayError) {
            (snapshot, total) = try await copyTables(targets, masterID: masterID, master: master, slave: slave,
                                                     conninfo: conninfo, masterConninfo: masterConninfo,
                                                     options: options, logger: logger)
        } catch {
            var error = error
            error.host = name
            error.message += "; host '\(name)' is registered but not copied yet: run add-host --copy again to start over"
            throw error
        }

        // 5. The master's record: cleanup and `status` see the host again.
        do throws(ReplayError) {
            try CopyRegistration.recordCopied(host: host, snapshot: snapshot, on: master)
        } catch {
            var error = error
            error.host = name
            if error.kind == .master {
                error.message += "; the slave holds the copy (progress \(snapshot)), and replay starts from it"
            }
            throw error
        }
        let seconds = CopyProgress.seconds(clock.now - start)
        logger.info("""
            copy complete: \(targets.count) table(s), \(CopyProgress.count(Double(total.rows))) rows, \
            \(CopyProgress.megabytes(total.bytes)) MB in \(String(format: "%.1f", seconds)) s; \
            replay continues from snapshot \(snapshot)
            """)
    }

    /// Steps 2 to 4: the slave's old progress forgotten, the master's
    /// snapshot, and the slave holding every table and its progress at it.
    private static func copyTables(_ targets: [SlaveTarget], masterID: String, master: Connection, slave: SlaveSession,
                                   conninfo: String, masterConninfo: String?, options: CopyOptions,
                                   logger: Logger) async throws(ReplayError) -> (MasterSnapshot, (rows: Int, bytes: Int)) {
        // 2. Forget the slave's old progress from this master: its tables
        //    are about to change under it.
        do throws(PostgresError) {
            try slave.connection.execute("DELETE FROM dbmirror.progress WHERE master_id = $1::uuid", [masterID])
        } catch {
            throw ReplayError(slave: error)
        }
        // 3. One master snapshot for every table.
        let snapshot = try MasterReadTransaction.begin(on: master)
        defer { MasterReadTransaction.end(on: master) }
        let sequences = try MasterReadTransaction.sequences(on: master)
        logger.info("copying \(targets.count) table(s) as of master snapshot \(snapshot)", metadata: [LogKey.snapshot: "\(snapshot)"])

        // 4. The slave's transaction: progress row at the snapshot, the
        //    tables (here, or by the workers), the sequences, commit.
        do throws(PostgresError) {
            try slave.connection.executeScript("BEGIN; SET LOCAL synchronous_commit = on")
            let held = try ProgressTable.lock(masterID: masterID, creatingAt: snapshot.text, on: slave.connection)
            guard held == snapshot.text else {
                throw PostgresError(kind: .unexpectedResult,
                                    message: "the slave's progress row holds \(held ?? "nothing"), not the copy's snapshot \(snapshot): another copy into this slave?")
            }
        } catch {
            throw ReplayError(slave: error)
        }
        var total = (rows: 0, bytes: 0)
        if options.jobs > 1 && targets.count > 1 {
            let snapshotID = try MasterReadTransaction.export(on: master)
            let groups = try SlaveTargets.groups(targets, on: slave.connection)
            let workers = CopyWorkers(masterConninfo: masterConninfo, slaveConninfo: conninfo, snapshotID: snapshotID, logger: logger)
            total = try await workers.run(groups, jobs: options.jobs)
        } else {
            try SlaveTargets.empty(targets, on: slave.connection)
            for target in targets {
                let counts = try TableCopier().copy(target, from: master, to: slave.connection, logger: logger) { Task.isCancelled }
                total.rows += counts.rows
                total.bytes += counts.bytes
            }
        }
        if Task.isCancelled {
            throw ReplayError(.cancelled, "interrupted before the copy was committed")
        }
        try SequenceSync.apply(sequences, on: slave.connection)
        do throws(PostgresError) {
            try ProgressTable.advance(masterID: masterID, to: snapshot, lastXID: nil, lastSeqID: nil, on: slave.connection)
            try slave.connection.executeScript("COMMIT")
        } catch {
            throw ReplayError(slave: error)
        }
        return (snapshot, total)
    }

    private static func openSlave(_ conninfo: String, logger: Logger) throws(ReplayError) -> SlaveSession {
        do throws(PostgresError) {
            return try SlaveSession(conninfo: conninfo, settings: ApplySettings(), logger: logger)
        } catch {
            throw ReplayError(.slave, "cannot connect to the slave (\(ConnInfo.redacted(conninfo))): \(error.message)", postgres: error)
        }
    }
}
