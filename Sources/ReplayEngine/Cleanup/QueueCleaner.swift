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
public enum QueueCleaner {
    /// One statement: up to 10,000 changes, both tables, chosen through the
    /// "XID" index below the oldest host's snapshot horizon.
    static let deletion = #"""
        WITH horizon AS (
            SELECT coalesce(min(pg_snapshot_xmax(t."Snapshot")), pg_snapshot_xmax(pg_current_snapshot())) AS xmax
            FROM "MirrorHost" h LEFT JOIN "MirroredTransaction" t USING ("MirrorHostId")
        ),
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
            DELETE FROM "PendingData" d WHERE d."SeqId" IN (SELECT "SeqId" FROM doomed)
        )
        DELETE FROM "Pending" p WHERE p.ctid = ANY (ARRAY(SELECT row_id FROM doomed))
        """#

    /// Deletes in rounds until nothing is left to delete, or after
    /// `maximumStatements` rounds; returns the number of changes deleted.
    static func clean(on connection: Connection, maximumStatements: Int? = nil, logger: Logger) throws(ReplayError) -> Int {
        do throws(PostgresError) {
            let blocking = try connection.execute(#"""
                SELECT string_agg(h."HostName", ', ' ORDER BY h."HostName")
                FROM "MirrorHost" h LEFT JOIN "MirroredTransaction" t USING ("MirrorHostId")
                WHERE t."MirrorHostId" IS NULL
                """#).scalar
            if let blocking {
                logger.warning(#"queue cleanup skipped: no "MirroredTransaction" row for host(s) \#(blocking); remove and add them again"#)
                return 0
            }
            var total = 0
            var statements = 0
            while maximumStatements.map({ statements < $0 }) ?? true {
                let deleted = try connection.execute(deletion).affectedRows ?? 0
                statements += 1
                total += deleted
                if deleted == 0 { break }
            }
            if total > 0 {
                logger.info("deleted applied changes from the queue", metadata: [LogKey.changes: "\(total)"])
            }
            return total
        } catch {
            throw HostRegistry.setupError(error)
        }
    }

    /// `dbmirror clean`: deletes everything every host has applied.
    public static func cleanAll(master: String?, logger: Logger) async throws(ReplayError) -> Int {
        try await onDedicatedThread(name: "dbmirror-clean") { () throws(ReplayError) -> Int in
            let connection = try MasterConnection.open(master, logger: logger)
            return try clean(on: connection, logger: logger)
        }
    }
}
