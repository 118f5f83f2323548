import LibPQ
import Logging

/// `dbmirror run`: replays the master's queue to the selected hosts, one
/// child task (on a thread of its own) per host.
public struct ReplayService: Sendable {
    public let settings: ReplaySettings
    public let logger: Logger

    public init(settings: ReplaySettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// How one host fared in `runOnce`.
    public struct HostOutcome: Sendable {
        public var host: String
        /// nil when the host is caught up with everything committed before the run.
        public var error: ReplayError?
        public var changes: Int
    }

    /// Applies everything committed before the call to every selected host,
    /// then cleans the queue.
    ///
    /// - Throws: `.master` when the master cannot be used, `.usage` for an
    ///   unknown host name. A failing host does not throw: see its outcome.
    public func runOnce() async throws(ReplayError) -> [HostOutcome] {
        let settings = self.settings
        let logger = self.logger
        let survey = try await onDedicatedThread(name: "dbmirror-master") { () throws(ReplayError) -> OnceSurvey in
            try OnceSurvey.take(settings: settings, logger: logger)
        }
        if survey.hosts.isEmpty {
            logger.warning("no hosts are registered on the master; nothing to do")
        }
        // The hosts share one read of the master's batch; a host the shared
        // batch could not serve (or could not be asked) replays alone.
        let outcomes = await withTaskGroup(of: [HostOutcome].self) { group -> [HostOutcome] in
            for host in survey.alone {
                group.addTask { await Self.replayAlone([host], settings: settings, logger: logger) }
            }
            if !survey.shared.isEmpty {
                let members = survey.shared
                group.addTask {
                    let batch = SharedBatch(members: members, masterID: survey.masterID,
                                            settings: settings, logger: logger)
                    let applied = await batch.run()
                    await Self.record(applied, settings: settings, logger: logger)
                    let done = Set(applied.map(\.host.id))
                    let rest = members.map(\.host).filter { !done.contains($0.id) }
                    let finished = applied.map { HostOutcome(host: $0.host.name, error: nil, changes: $0.changes) }
                    if Task.isCancelled {
                        let stopped = ReplayError(.cancelled, "stopped before the batch was complete; it was rolled back")
                        return finished + rest.map { HostOutcome(host: $0.name, error: stopped, changes: 0) }
                    }
                    return finished + (await Self.replayAlone(rest, settings: settings, logger: logger))
                }
            }
            var outcomes: [HostOutcome] = []
            for await list in group { outcomes += list }
            return outcomes.sorted { $0.host < $1.host }
        }
        if !Task.isCancelled {
            do throws(ReplayError) {
                _ = try await onDedicatedThread(name: "dbmirror-clean") { () throws(ReplayError) -> QueueCleanup in
                    let master = try MasterConnection.open(settings.masterConninfo, logger: logger)
                    return try QueueCleaner.clean(on: master, logger: logger)
                }
            } catch {
                logger.warning("queue cleanup failed: \(error)")
            }
        }
        return outcomes
    }

    /// Each host on its own thread, in parallel.
    private static func replayAlone(_ hosts: [HostConfig], settings: ReplaySettings, logger: Logger) async -> [HostOutcome] {
        await withTaskGroup(of: HostOutcome.self) { group -> [HostOutcome] in
            for host in hosts {
                let thread = DedicatedThread(name: "dbmirror-\(host.name)")
                group.addTask(executorPreference: thread) {
                    defer { thread.shutdown() }
                    return replayOnce(host, settings: settings, logger: logger)
                }
            }
            var outcomes: [HostOutcome] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
    }

    /// Records shared batches on the master ("MirroredTransaction"); they
    /// were committed synchronously on the slaves, so they are durable.
    private static func record(_ applied: [SharedBatch.Applied], settings: ReplaySettings, logger: Logger) async {
        guard !applied.isEmpty else { return }
        await onDedicatedThread(name: "dbmirror-master") {
            do throws(ReplayError) {
                let master = try MasterConnection.open(settings.masterConninfo, logger: logger)
                for batch in applied {
                    do throws(PostgresError) {
                        try HostRegistry.recordApplied(hostID: batch.host.id, snapshot: batch.snapshot,
                                                       lastXID: batch.lastXID, on: master)
                    } catch {
                        throw ReplayError(master: error)
                    }
                }
            } catch {
                // The slaves' own progress rows hold the truth; the record trails.
                logger.warning("could not record applied batches on the master: \(error)")
            }
        }
    }

    /// One host's `--once`: batches until one ends at the snapshot it
    /// started with rather than at a mark, each planned again if another
    /// replayer moved the slave's progress meanwhile.
    private static func replayOnce(_ host: HostConfig, settings: ReplaySettings, logger: Logger) -> HostOutcome {
        let replicator = HostReplicator(host: host, settings: settings, logger: logger)
        defer { replicator.close() }
        var attempts = 0
        var changes = 0
        while true {
            attempts += 1
            do throws(ReplayError) {
                let summary = try replicator.runBatch(synchronous: true) { Task.isCancelled }
                changes += summary.changes
                if summary.endsAtMark {
                    attempts = 0
                    continue
                }
                return HostOutcome(host: host.name, error: nil, changes: changes)
            } catch {
                replicator.reset(after: error)
                if error.kind == .progressMoved && attempts < 5 {
                    replicator.logger.info("\(error.message); planning again")
                    continue
                }
                if error.kind != .cancelled {
                    replicator.logger.error("\(error)")
                    replicator.recordFailure(error)
                }
                return HostOutcome(host: host.name, error: error, changes: changes)
            }
        }
    }

    /// Replays continuously until the task is cancelled (SIGINT/SIGTERM):
    /// woken by the master's notifications, picking up added and removed
    /// hosts, retrying failed hosts with back-off.
    ///
    /// - Throws: `.master` when the master cannot be used at start,
    ///   `.usage` for an unknown host name. Later failures are retried.
    public func run() async throws(ReplayError) {
        let settings = self.settings
        let logger = self.logger
        _ = try await onDedicatedThread(name: "dbmirror-master") { () throws(ReplayError) -> [HostConfig] in
            let master = try MasterConnection.open(settings.masterConninfo, logger: logger)
            _ = try HostRegistry.masterID(on: master)
            return try HostRegistry.hosts(named: settings.hostNames, on: master)
        }
        let hub = HostHub()
        let (updates, continuation) = AsyncStream<[HostConfig]>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            let watcherThread = DedicatedThread(name: "dbmirror-master")
            group.addTask(executorPreference: watcherThread) {
                defer { watcherThread.shutdown() }
                await MasterWatcher(hub: hub, settings: settings, logger: logger, hostUpdates: continuation).run()
            }
            for await hosts in updates {
                for handle in hub.reconcile(hosts) {
                    let thread = DedicatedThread(name: "dbmirror-\(handle.host.name)")
                    group.addTask(executorPreference: thread) {
                        defer { thread.shutdown() }
                        await HostWorker(handle: handle, hub: hub, settings: settings, logger: logger).run()
                    }
                }
            }
            group.cancelAll()
        }
        logger.info("stopped")
    }
}
