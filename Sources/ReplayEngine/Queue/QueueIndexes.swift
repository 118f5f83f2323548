import LibPQ
import Logging

/// Upkeep of the queue's BRIN indexes (MirrorSetup.sql).
enum QueueIndexes {
    /// Summarises the block ranges of the queue's BRIN indexes that filled
    /// since the last summary. Until a range is summarised every index scan
    /// returns it: autovacuum summarises them too (autosummarize, and at the
    /// end of each vacuum), but on its own schedule, and meanwhile each chunk
    /// of a batch would read every block written since. Called before each
    /// batch is read and after each cleanup. It takes the lock VACUUM takes:
    /// rather than wait for a running (auto)vacuum, it gives up at once,
    /// except before a batch over a queue large enough that every chunk
    /// reading an unsummarised tail would cost more than waiting
    /// (`waitIfLarge`; see `wait(forQueueBytes:superuser:)`). An ordinary
    /// autovacuum of the queue is then cancelled after `deadlock_timeout`,
    /// 50 ms for a superuser; an anti-wraparound one is not, and the batch
    /// then reads unsummarised once the wait runs out. It needs the queue's
    /// owner (or a superuser); without, it fails quietly and the ranges wait
    /// for autovacuum.
    static func summarizeNewRanges(on connection: Connection, waitIfLarge: Bool = false, logger: Logger) {
        if summarize(on: connection, waiting: .noLonger, logger: logger) || !waitIfLarge { return }
        waitForVacuumIfLarge(on: connection, logger: logger)
    }

    private static func waitForVacuumIfLarge(on connection: Connection, logger: Logger) {
        let row = try? connection.execute(#"""
            SELECT pg_relation_size('"PendingData"'), current_setting('is_superuser') = 'on'
            """#)
        let size = row?.int64(row: 0, column: 0).map { Int($0) } ?? 0
        let superuser = row?.string(row: 0, column: 1) == "t"
        guard let wait = wait(forQueueBytes: size, superuser: superuser) else { return }
        logger.info("waiting for the queue's new BRIN ranges to be summarised: a vacuum holds the queue", metadata: [
            "queue_bytes": "\(size)", "longest_wait": "\(wait.rawValue)"])
        _ = summarize(on: connection, waiting: wait, logger: logger)
    }

    /// How long a batch over `bytes` of "PendingData" should wait for a
    /// vacuum to let the summary run, or nil not to. Unsummarised, each of
    /// the batch's chunks reads the whole tail: about `bytes` per chunk, and
    /// the chunks grow in number with `bytes`. A 13 MB queue (40,000
    /// pgbench transactions) read that way cost its 33 chunks 5,000,000
    /// tuple reads and the catch-up about 0.15 s in a benchmark run; waiting
    /// for a superuser's 50 ms `deadlock_timeout` costs less from a few MB
    /// on. Others wait the server's `deadlock_timeout` (1 s by default),
    /// which pays only for a large queue.
    static func wait(forQueueBytes bytes: Int, superuser: Bool) -> Wait? {
        if bytes >= largeQueueBytes { return .forAVacuum }
        if superuser && bytes >= mediumQueueBytes { return .briefly }
        return nil
    }

    /// Starts the summary on `upkeep`, a master connection of the batch's
    /// own (`openUpkeep`), and returns at once: the summary then runs while
    /// the batch's cursor sorts its "Pending" rows on the other connection,
    /// instead of before it (for a 160,000-change catch-up each took about
    /// 40 ms of the 60 ms start during which the slave had nothing to do).
    /// False if it could not be sent. Collect it with `finishSummary`.
    static func startSummary(on upkeep: Connection, logger: Logger) -> Bool {
        do throws(PostgresError) {
            try upkeep.startQuery(summary)
            return true
        } catch {
            logger.debug("could not start summarising the queue's new block ranges: \(error)")
            return false
        }
    }

    /// Waits for the summary `startSummary` sent; if it gave up behind a
    /// vacuum, waits as `summarizeNewRanges(waitIfLarge: true)` does.
    static func finishSummary(on upkeep: Connection, logger: Logger) {
        do throws(PostgresError) {
            _ = try upkeep.finishQuery(statement: summary)
        } catch {
            logger.debug("summarising the queue's new block ranges not possible now: \(error)")
            waitForVacuumIfLarge(on: upkeep, logger: logger)
        }
    }

    /// A master connection for `startSummary`: it gives up on the queue's
    /// lock as `summarizeNewRanges` does. Nil if it cannot be opened (the
    /// batch then summarises on its own connection first).
    static func openUpkeep(_ conninfo: String?, logger: Logger) -> Connection? {
        do throws(ReplayError) {
            let upkeep = try MasterConnection.open(conninfo, logger: logger)
            do throws(PostgresError) {
                _ = try upkeep.executeScript("SET lock_timeout = '\(Wait.noLonger.rawValue)'")
            } catch {
                throw ReplayError(master: error)
            }
            return upkeep
        } catch {
            logger.debug("no second master connection for the queue's upkeep: \(error.description)")
            return nil
        }
    }

    private static let summary = #"""
        SELECT brin_summarize_new_values('"Pending_XID_idx"'::regclass),
               brin_summarize_new_values('"PendingData_SeqId_idx"'::regclass)
        """#

    /// A "PendingData" this large read whole by every chunk of a batch would
    /// make a catch-up quadratic.
    static let largeQueueBytes = 64 << 20
    /// From this size a superuser's replayer waits briefly for a vacuum.
    static let mediumQueueBytes = 4 << 20

    /// How long to wait for the queue's lock: the `lock_timeout` of the summary.
    enum Wait: String {
        case noLonger = "20ms"
        /// Long enough for an ordinary autovacuum to be cancelled after a
        /// superuser's 50 ms `deadlock_timeout` and to let go (230–290 ms
        /// from the first attempt in benchmark runs, the vacuum busy
        /// summarising); not for an anti-wraparound one.
        case briefly = "500ms"
        case forAVacuum = "10s"
    }

    private static func summarize(on connection: Connection, waiting wait: Wait, logger: Logger) -> Bool {
        // Waiting for a vacuum: an autovacuum in the way is cancelled once
        // the wait reaches `deadlock_timeout` (1 s by default). A superuser
        // can shorten that for this transaction: a catch-up right after a
        // large load, which sends autovacuum to the queue, then starts about
        // a second sooner. (Others cannot set it, and wait the full time.)
        let cancelSooner = wait != .noLonger ? #"""
            SELECT set_config('deadlock_timeout', '50ms', true) WHERE current_setting('is_superuser') = 'on';
            """# : ""
        do throws(PostgresError) {
            _ = try connection.executeScript(#"""
                BEGIN;
                SET LOCAL lock_timeout = '\#(wait.rawValue)';
                \#(cancelSooner)
                \#(summary);
                COMMIT
                """#)
            return true
        } catch {
            logger.debug("summarising the queue's new block ranges not possible now: \(error)")
            _ = try? connection.executeScript("ROLLBACK")
            return false
        }
    }
}
