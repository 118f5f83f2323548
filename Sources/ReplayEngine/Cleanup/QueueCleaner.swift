import LibPQ
import Logging

/// Deletes queued changes every registered host has applied.
///
/// A change can go once its transaction is visible in the "Snapshot" the
/// master has recorded for every host. That record only ever trails the
/// host's true progress (it is written after the slave's commit is durable),
/// so nothing a host still needs is deleted. A host with no record at all
/// blocks cleanup: without a record we cannot know where it stands.
/// With no hosts at all, every committed change goes: a host added later
/// starts at the snapshot of its registration and needs none of them.
///
/// Every cleanup transaction first takes `"MirrorHost"` in SHARE mode: a
/// host being registered holds ROW EXCLUSIVE on it until it commits, and its
/// start snapshot may predate changes committed since; waiting for it makes
/// the cleanup see the new host (and keep what it needs) instead of
/// deleting under an uncommitted registration.
public enum QueueCleaner {
    static let waitForRegistrations = #"LOCK TABLE "MirrorHost" IN SHARE MODE"#

    /// A nested loop over the doomed changes would probe "PendingData"'s
    /// BRIN index once per change, each probe reading the whole index and a
    /// block range; hash and semi joins read each table once.
    static let noNestedLoops = "SET LOCAL enable_nestloop = off"

    /// The lowest xmax of the hosts' recorded snapshots (the current
    /// snapshot's when there is no host): a transaction at or above it is
    /// one some host has not applied, and so is a mark at or below it of
    /// no use to any host.
    static let horizon = #"""
        horizon AS (
            SELECT coalesce(min(pg_snapshot_xmax(t."Snapshot")), pg_snapshot_xmax(pg_current_snapshot())) AS xmax
            FROM "MirrorHost" h LEFT JOIN "MirroredTransaction" t USING ("MirrorHostId")
        )
        """#

    /// One statement: up to 10,000 changes, both tables, chosen through the
    /// "XID" index below the oldest host's snapshot horizon; their first and
    /// last "SeqId" bound the "PendingData" blocks read (a BRIN index).
    static let deletion = #"""
        WITH \#(horizon),
        doomed AS (
            SELECT p.ctid AS row_id, p."SeqId"
            FROM "Pending" p, horizon
            WHERE p."XID" < horizon.xmax
              AND NOT EXISTS (
                  SELECT 1 FROM "MirrorHost" h LEFT JOIN "MirroredTransaction" t USING ("MirrorHostId")
                  WHERE t."Snapshot" IS NULL OR NOT pg_visible_in_snapshot(p."XID", t."Snapshot"))
            LIMIT 10000
        ),
        data AS (
            DELETE FROM "PendingData" d
            WHERE d."SeqId" IN (SELECT "SeqId" FROM doomed)
              AND d."SeqId" BETWEEN (SELECT min("SeqId") FROM doomed) AND (SELECT max("SeqId") FROM doomed)
        )
        DELETE FROM "Pending" p WHERE p.ctid = ANY (ARRAY(SELECT row_id FROM doomed))
        """#

    /// Marks no host can use any more: a host uses a mark whose xmax is
    /// above its own snapshot's (`QueueReader.firstMarkQuery`), and hosts'
    /// snapshots only move on.
    static let markDeletion = #"""
        WITH \#(horizon)
        DELETE FROM "PendingMark" m USING horizon
        WHERE pg_snapshot_xmax(m."Snapshot") <= horizon.xmax
        """#

    /// A queue of more changes than this is emptied with TRUNCATE when all
    /// of it is applied.
    static let truncateThreshold = 10_000

    /// The whole queue, when every row in it can go: checked under an
    /// exclusive lock taken only if nobody uses the queue at that moment
    /// (NOWAIT), through the "XID" index from the oldest host's xmin (below
    /// it every transaction is seen by every host).
    static let everythingApplied = #"""
        SELECT count(*) = 0
        FROM "Pending" p,
             (SELECT min(pg_snapshot_xmin(t."Snapshot")) AS xmin
              FROM "MirrorHost" h JOIN "MirroredTransaction" t USING ("MirrorHostId")) horizon
        WHERE horizon.xmin IS NOT NULL AND p."XID" >= horizon.xmin
          AND EXISTS (SELECT 1 FROM "MirrorHost" h LEFT JOIN "MirroredTransaction" t USING ("MirrorHostId")
                      WHERE t."Snapshot" IS NULL OR NOT pg_visible_in_snapshot(p."XID", t."Snapshot"))
        """#

    /// Empties the queue with TRUNCATE when every change in it is applied
    /// everywhere and nobody is using it; true when it did. TRUNCATE frees
    /// the space at once, where deleting costs a dead tuple per row; the lock
    /// (NOWAIT) is held for one index probe. A replayer whose snapshot was
    /// taken before the TRUNCATE but reads the queue after it sees it empty,
    /// which is right: every change that was in it is applied by its host
    /// already, so its batch would have been empty anyway.
    static func truncateIfAllApplied(on connection: Connection, logger: Logger) -> Bool {
        do throws(PostgresError) {
            let results = try connection.executePipeline([
                ("BEGIN", []),
                ("SET LOCAL lock_timeout = 0", []),
                (waitForRegistrations, []),
                (#"LOCK TABLE "Pending", "PendingData", "PendingMark" IN ACCESS EXCLUSIVE MODE NOWAIT"#, []),
                (everythingApplied, []),
            ])
            let allApplied = results.allSatisfy { if case .success = $0 { true } else { false } }
                && (try? results[4].get().scalar) == "t"
            if allApplied {
                try connection.executeScript(#"TRUNCATE "Pending", "PendingData", "PendingMark"; COMMIT"#)
                logger.debug("emptied the queue with TRUNCATE")
                return true
            }
            try connection.executeScript("ROLLBACK")
        } catch {
            logger.debug("queue cleanup by TRUNCATE not possible now: \(error)")
            _ = try? connection.executeScript("ROLLBACK")
        }
        return false
    }

    /// Deletes in rounds until nothing is left to delete, or after
    /// `maximumStatements` rounds; says what went.
    static func clean(on connection: Connection, maximumStatements: Int? = nil, logger: Logger) throws(ReplayError) -> QueueCleanup {
        do throws(PostgresError) {
            let blocking = try connection.execute(#"""
                SELECT string_agg(h."HostName", ', ' ORDER BY h."HostName")
                FROM "MirrorHost" h LEFT JOIN "MirroredTransaction" t USING ("MirrorHostId")
                WHERE t."MirrorHostId" IS NULL
                """#).scalar
            if let blocking {
                logger.warning(#"queue cleanup waits: host(s) \#(blocking) have no "MirroredTransaction" row yet (an initial copy is running or did not finish; run add-host --copy again if it failed)"#)
                return QueueCleanup(deleted: 0, emptied: false)
            }
            // A large queue that is all applied goes at once (small ones are
            // cheap to delete and need no exclusive lock). Counted only as far
            // as the threshold: a whole count of a queue that grows while a
            // host is down would cost the master a scan every round.
            let queued = try connection.execute(
                #"SELECT count(*) FROM (SELECT FROM "Pending" LIMIT \#(Self.truncateThreshold + 1)) q"#
            ).scalar.flatMap { Int($0) } ?? 0
            if queued > Self.truncateThreshold, truncateIfAllApplied(on: connection, logger: logger) {
                logger.info("emptied the queue with TRUNCATE: every change in it was applied",
                            metadata: [LogKey.changes: "more than \(Self.truncateThreshold)"])
                return QueueCleanup(deleted: 0, emptied: true)
            }
            var total = 0
            var statements = 0
            while maximumStatements.map({ statements < $0 }) ?? true {
                let deleted: Int
                do throws(PostgresError) {
                    _ = try connection.executeScript("BEGIN; \(Self.noNestedLoops); " + waitForRegistrations)
                    deleted = try connection.execute(deletion).affectedRows ?? 0
                    _ = try connection.executeScript("COMMIT")
                } catch {
                    _ = try? connection.executeScript("ROLLBACK")
                    throw error
                }
                statements += 1
                total += deleted
                if deleted == 0 { break }
            }
            _ = try connection.execute(Self.markDeletion)
            if total > 0 {
                logger.info("deleted applied changes from the queue", metadata: [LogKey.changes: "\(total)"])
            }
            QueueIndexes.summarizeNewRanges(on: connection, logger: logger)
            return QueueCleanup(deleted: total, emptied: false)
        } catch {
            throw HostRegistry.setupError(error)
        }
    }

    /// `dbmirror clean`: deletes everything every host has applied.
    public static func cleanAll(master: String?, logger: Logger) async throws(ReplayError) -> QueueCleanup {
        try await onDedicatedThread(name: "dbmirror-clean") { () throws(ReplayError) -> QueueCleanup in
            let connection = try MasterConnection.open(master, logger: logger)
            return try clean(on: connection, logger: logger)
        }
    }
}

/// What a cleanup removed from the queue.
public struct QueueCleanup: Sendable, CustomStringConvertible {
    /// Changes removed by DELETE.
    public var deleted: Int
    /// Whether the whole queue (more than `QueueCleaner.truncateThreshold`
    /// changes, every one applied) went by TRUNCATE, uncounted.
    public var emptied: Bool

    public var description: String {
        emptied ? "emptied the queue with TRUNCATE (more than \(QueueCleaner.truncateThreshold) applied changes)"
            : "deleted \(deleted) applied change(s) from the queue"
    }
}
