import Foundation
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
        let clock = ContinuousClock()
        var busySince: ContinuousClock.Instant?
        replicator.logger.info("replicating", metadata: [LogKey.conninfo: "\(redactedConninfo)"])
        while !Task.isCancelled && !handle.isStopped {
            do throws(ReplayError) {
                // While changes keep coming, batches start at most every
                // batchInterval: each batch costs the master and the slave
                // a few round trips whatever its size. (Under pgbench on
                // two cores, replaying to a slave there: 95 batches a second
                // and 3,500 TPS at once, 20 a second and 4,500 TPS at 50 ms.)
                if let busySince, clock.now < busySince + settings.batchInterval {
                    try? await Task.sleep(until: busySince + settings.batchInterval, clock: clock)
                }
                let started = clock.now
                let summary = try replicator.runBatch(synchronous: false) { Task.isCancelled || handle.isStopped }
                busySince = summary.transactions > 1 && !summary.endsAtMark ? started : nil
                if failing {
                    replicator.logger.info("host recovered")
                    failing = false
                }
                backoff.reset()
                if summary.changes > 0 { hub.noteApplied() }
                // A batch that ended at a mark has more behind it now.
                if summary.endsAtMark {
                    try replicator.recordIfDurable()
                    continue
                }
                // While a batch waits for the slave's WAL flush, look again soon.
                let recording = replicator.hasUnrecordedBatch
                let woken = await handle.wake.wait(timeout: recording ? .milliseconds(250) : settings.idleInterval)
                try replicator.recordIfDurable()
                // The record is a master transaction of its own, so a batch
                // right after it always finds a newer snapshot: after an
                // empty batch, wait for a wake-up or the poll instead, or an
                // idle host would go round every 250 ms for ever.
                if recording, !woken, summary.changes == 0, !replicator.hasUnrecordedBatch {
                    await handle.wake.wait(timeout: settings.idleInterval)
                }
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
        // Record the last batch if the slave flushes it within a second; if
        // not, the next run finds it in the slave's own progress row anyway.
        // (This thread is the host's own: sleeping here blocks nobody.)
        for _ in 0..<10 where replicator.hasUnrecordedBatch {
            do throws(ReplayError) {
                try replicator.recordIfDurable()
            } catch {
                break
            }
            if replicator.hasUnrecordedBatch { usleep(100_000) }
        }
        replicator.logger.info("stopped replicating")
    }

    private var redactedConninfo: String { ConnInfo.redacted(handle.host.conninfo) }
}
