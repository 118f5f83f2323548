import LibPQ
import Logging

/// The life of one host under `dbmirror run`: batches whenever the master
/// signals new changes (or the idle timer fires), retries with exponential
/// back-off after a failure, and ends when the host is removed or the run
/// is cancelled. Runs on its own thread (it owns blocking connections).
struct HostWorker {
    let handle: HostHub.Handle
    let hub: HostHub
    let settings: ReplaySettings
    let logger: Logger

    func run() async {
        let replicator = HostReplicator(host: handle.host, settings: settings, logger: logger)
        defer { replicator.close() }
        var backoff = Backoff(initial: settings.retryInitial, maximum: settings.retryMaximum)
        var failing = false
        replicator.logger.info("replicating", metadata: [LogKey.conninfo: "\(redactedConninfo)"])
        while !Task.isCancelled && !handle.isStopped {
            do throws(ReplayError) {
                let summary = try replicator.runBatch(synchronous: false) { Task.isCancelled || handle.isStopped }
                if failing {
                    replicator.logger.info("host recovered")
                    failing = false
                }
                backoff.reset()
                if summary.changes > 0 { hub.noteApplied() }
                // While a batch waits for the slave's WAL flush, look again soon.
                await handle.wake.wait(timeout: replicator.hasUnrecordedBatch ? .milliseconds(250) : settings.idleInterval)
                try replicator.recordIfDurable()
            } catch {
                if error.kind == .cancelled { break }
                replicator.reset(after: error)
                if error.kind == .progressMoved {
                    replicator.logger.info("\(error.message); planning again")
                    continue
                }
                failing = true
                let delay = backoff.take()
                replicator.logger.error("\(error)", metadata: ["retry_in": "\(delay)"])
                replicator.recordFailure(error)
                await handle.stopSignal.wait(timeout: delay)
            }
        }
        // A batch applied but not yet recorded is recorded by the next run:
        // the slave's own progress row already has it.
        try? replicator.recordIfDurable()
        replicator.logger.info("stopped replicating")
    }

    private var redactedConninfo: String { ConnInfo.redacted(handle.host.conninfo) }
}
