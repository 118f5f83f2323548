import LibPQ
import Logging

/// Upkeep of the queue's BRIN indexes (MirrorSetup.sql).
enum QueueIndexes {
    /// Summarises the block ranges of the queue's BRIN indexes that filled
    /// since the last summary. Until a range is summarised every index scan
    /// returns it: autovacuum summarises them too (autosummarize), but on its
    /// own schedule, and meanwhile each chunk of a batch would read every
    /// block written since. Called before each batch is read and after each
    /// cleanup. It takes the lock VACUUM takes: rather than wait for a
    /// running (auto)vacuum, and so make it cancel itself, it gives up at
    /// once. It needs the queue's owner (or a superuser); without, it fails
    /// quietly and the ranges wait for autovacuum.
    static func summarizeNewRanges(on connection: Connection, logger: Logger) {
        do throws(PostgresError) {
            _ = try connection.executeScript(#"""
                BEGIN;
                SET LOCAL lock_timeout = '20ms';
                SELECT brin_summarize_new_values('"Pending_XID_idx"'::regclass),
                       brin_summarize_new_values('"PendingData_SeqId_idx"'::regclass);
                COMMIT
                """#)
        } catch {
            logger.debug("summarising the queue's new block ranges not possible now: \(error)")
            _ = try? connection.executeScript("ROLLBACK")
        }
    }
}
