import LibPQ
import Logging
import PendingDecoder

/// Reads one batch of committed changes from the master's queue.
///
/// A batch is what a REPEATABLE READ snapshot `current` sees committed and the
/// slave's progress snapshot `previous` did not: every change of every master
/// transaction that committed between the two, in "SeqId" order. Uncommitted
/// transactions are hidden by MVCC and come in a later batch, whole.
final class QueueReader {
    private let connection: Connection
    private let logger: Logger
    private var open = false
    /// A FETCH sent ahead (see `prefetch`) whose result is not yet collected.
    private var prefetched = false
    /// The first FETCH's result, read with the batch's opening statements.
    private var firstChunk: QueryResult?
    /// The last FETCH returned fewer rows than asked: nothing more to read.
    private var exhausted = false
    /// Rows asked for by the FETCH whose result comes next.
    private var requested = 0
    /// Rows to ask for next: few at first, then as many as fit
    /// `chunkBytes` at the average size seen (bounded by the caller's limit),
    /// so that wide rows cannot make a chunk huge.
    private var fetchSize = 16
    /// About this many bytes of queued rows per chunk.
    static let chunkBytes = 8 << 20

    /// The master snapshot the batch runs up to, and the sequence values read with it.
    struct Batch {
        var current: MasterSnapshot
        var sequences: [SequenceValue]
    }

    init(connection: Connection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    static let cursorQuery = cursor(selecting: """
        p."XID" >= pg_snapshot_xmin($1::pg_snapshot)
          AND NOT pg_visible_in_snapshot(p."XID", $1::pg_snapshot)
        """)

    /// The batch for several slaves at once: every change some of the
    /// snapshots in $2 do not see ($1 is the lowest of their xmins); each
    /// slave then skips what its own snapshot sees (`MasterSnapshot.sees`).
    static let sharedCursorQuery = cursor(selecting: """
        p."XID" >= $1::xid8
          AND EXISTS (SELECT FROM unnest($2::pg_snapshot[]) AS s(snapshot)
                      WHERE NOT pg_visible_in_snapshot(p."XID", s.snapshot))
        """)

    /// The cursor over the "Pending" rows that match `condition` (on `p`),
    /// each with its "PendingData" rows, in "SeqId" order.
    ///
    /// The queue's indexes are BRIN (MirrorSetup.sql): the "XID" condition
    /// finds the batch's "Pending" rows, and the batch's first and last
    /// "SeqId" bound the "PendingData" rows read, which is what lets the
    /// planner scan only their block ranges rather than the whole table.
    static func cursor(selecting condition: String) -> String {
        """
        DECLARE dbmirror_batch NO SCROLL CURSOR FOR
        WITH batch AS MATERIALIZED (
            SELECT p."SeqId", p."XID", p."TableName", p."Op"
            FROM "Pending" p
            WHERE \(condition)
        ),
        bounds AS (SELECT min("SeqId") AS first, max("SeqId") AS last FROM batch)
        SELECT b."SeqId", b."XID"::text, b."TableName", b."Op"::text, k."Data", d."Data"
        FROM batch b
        LEFT JOIN "PendingData" k ON k."SeqId" = b."SeqId" AND k."IsKey"
            AND k."SeqId" BETWEEN (SELECT first FROM bounds) AND (SELECT last FROM bounds)
        LEFT JOIN "PendingData" d ON d."SeqId" = b."SeqId" AND NOT d."IsKey"
            AND d."SeqId" BETWEEN (SELECT first FROM bounds) AND (SELECT last FROM bounds)
        ORDER BY b."SeqId"
        """
    }

    /// A nested loop over a batch would probe a BRIN index once per change,
    /// and every probe reads the whole index and a block range: a cursor,
    /// planned for its first rows, would pick one whenever the queue's
    /// statistics lag its growth. Hash and merge joins read each table once.
    static let noNestedLoops = "SET LOCAL enable_nestloop = off"

    static let sequenceQuery = """
        SELECT n.nspname, c.relname, pg_sequence_last_value(c.oid)
        FROM "MirroredSequence" m
        JOIN pg_class c ON c.oid = m."SequenceName"
        JOIN pg_namespace n ON n.oid = c.relnamespace
        ORDER BY 1, 2
        """

    /// Opens the batch after `previous`: its snapshot, its sequence values,
    /// its cursor and the first `limit` changes, in one round trip.
    func begin(after previous: MasterSnapshot, limit: Int = 5000) throws(ReplayError) -> Batch {
        try begin(after: [previous], limit: limit)
    }

    /// Opens a batch for several slaves, after each of `previous`.
    func begin(after previous: [MasterSnapshot], limit: Int = 5000) throws(ReplayError) -> Batch {
        let cursor: (String, [String?])
        if previous.count == 1, let only = previous.first {
            cursor = (Self.cursorQuery, [only.text])
        } else {
            let list = ArrayLiteral.text(previous.map(\.text))
            cursor = (Self.sharedCursorQuery, [String(previous.map(\.xmin).min() ?? 0), list])
        }
        let snapshotText: String
        let sequences: [SequenceValue]
        do throws(PostgresError) {
            open = true
            let results = try connection.executePipeline([
                ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", []),
                ("SELECT pg_current_snapshot()::text", []),
                (Self.sequenceQuery, []),
                // For the cursor only (planned when declared): the sequence
                // query's catalog joins want their nested loops.
                (Self.noNestedLoops, []),
                cursor,
                ("FETCH FORWARD \(min(limit, fetchSize)) FROM dbmirror_batch", []),
            ])
            for result in results { _ = try result.get() }
            snapshotText = try results[1].get().scalar ?? ""
            sequences = Self.sequences(in: try results[2].get())
            firstChunk = try results[5].get()
            requested = min(limit, fetchSize)
        } catch {
            throw ReplayError(master: error)
        }
        guard let current = MasterSnapshot(snapshotText) else {
            throw ReplayError(.master, "the master returned an unreadable snapshot '\(snapshotText)'")
        }
        return Batch(current: current, sequences: sequences)
    }

    /// Sends the FETCH for the next `limit` changes without waiting: the
    /// master reads them while the caller applies the current chunk;
    /// `next(limit:)` collects them.
    func prefetch(limit: Int) throws(ReplayError) {
        guard !exhausted, !prefetched else { return }
        do throws(PostgresError) {
            requested = min(limit, fetchSize)
            try connection.startQuery("FETCH FORWARD \(requested) FROM dbmirror_batch")
            prefetched = true
        } catch {
            throw ReplayError(master: error)
        }
    }

    /// The master connection while a prefetch is under way, for
    /// `Connection.waitForResult(servicing:)`.
    var prefetching: Connection? { prefetched ? connection : nil }

    /// The next up to `limit` changes (prefetched or fetched now); empty
    /// when the batch is exhausted.
    func next(limit: Int) throws(ReplayError) -> [Change] {
        let result: QueryResult
        do throws(PostgresError) {
            if let first = firstChunk {
                firstChunk = nil
                result = first
            } else if exhausted {
                return []
            } else if prefetched {
                prefetched = false
                result = try connection.finishQuery(statement: "FETCH")
            } else {
                requested = min(limit, fetchSize)
                result = try connection.execute("FETCH FORWARD \(requested) FROM dbmirror_batch")
            }
        } catch {
            throw ReplayError(master: error)
        }
        if result.rowCount < requested { exhausted = true }
        adaptFetchSize(to: result, limit: limit)
        return try Self.changes(in: result)
    }

    /// True while the batch may have more changes (the last FETCH was full).
    var mayHaveMore: Bool { !exhausted }

    /// Sets the next FETCH's size from the bytes of this result's rows.
    private func adaptFetchSize(to result: QueryResult, limit: Int) {
        guard result.rowCount > 0 else { return }
        var bytes = 0
        for row in 0..<result.rowCount {
            for column in 2...5 {
                bytes += result.withValueBytes(row: row, column: column) { $0?.count ?? 0 }
            }
        }
        let average = max(1, bytes / result.rowCount)
        fetchSize = max(1, min(limit, Self.chunkBytes / average))
    }

    private static func changes(in result: QueryResult) throws(ReplayError) -> [Change] {
        var changes: [Change] = []
        changes.reserveCapacity(result.rowCount)
        for row in 0..<result.rowCount {
            changes.append(try change(in: result, row: row))
        }
        return changes
    }

    /// Ends the master transaction (it only read).
    func end() {
        guard open else { return }
        open = false
        firstChunk = nil
        do throws(PostgresError) {
            if prefetched {
                prefetched = false
                _ = try? connection.finishQuery(statement: "FETCH")
            }
            try connection.executeScript("ROLLBACK")
        } catch {
            logger.debug("ending the master read transaction failed: \(error)")
        }
    }

    /// The value of every sequence in "MirroredSequence" that has handed out one.
    private static func sequences(in result: QueryResult) -> [SequenceValue] {
        var values: [SequenceValue] = []
        for row in 0..<result.rowCount {
            // A sequence that has not handed out a value yet has nothing to carry.
            guard let schema = result.string(row: row, column: 0), let name = result.string(row: row, column: 1),
                  let text = result.string(row: row, column: 2), let value = Int64(text)
            else { continue }
            values.append(SequenceValue(schema: schema, name: name, lastValue: value))
        }
        return values
    }

    /// Decodes row `row` of a FETCH into a `Change`.
    static func change(in result: QueryResult, row: Int) throws(ReplayError) -> Change {
        let seqText = result.string(row: row, column: 0) ?? ""
        let xidText = result.string(row: row, column: 1) ?? ""
        let table = result.string(row: row, column: 2) ?? ""
        let opText = result.string(row: row, column: 3) ?? ""
        guard let seqID = Int64(seqText), let xid = UInt64(xidText) else {
            throw ReplayError(.master, "the queue returned an unreadable SeqId '\(seqText)' or XID '\(xidText)'")
        }
        let position = ChangeLocation(seqID: seqID, xid: xid, table: table, operation: "op '\(opText)'", key: nil)
        guard opText.count == 1, let operation = ChangeOperation(rawValue: Character(opText)) else {
            throw ReplayError(.change, "unknown operation '\(opText)' in the queue", change: position)
        }
        func decode(_ column: Int, _ what: String) throws(ReplayError) -> PendingRow? {
            do throws(PendingDecodingError) {
                return try result.withValueBytes(row: row, column: column) { (bytes) throws(PendingDecodingError) -> PendingRow? in
                    guard let bytes else { return nil }
                    return try PendingRow(decoding: bytes)
                }
            } catch {
                let column = error.columnIndex.map { ", column #\($0)" } ?? ""
                throw ReplayError(.change, "undecodable \(what) in \"PendingData\" at byte offset \(error.offset)\(column): \(error)",
                                  change: position)
            }
        }
        let key = try decode(4, "key row")
        let data = try decode(5, "data row")
        let size = result.withValueBytes(row: row, column: 4) { $0?.count ?? 0 }
            + result.withValueBytes(row: row, column: 5) { $0?.count ?? 0 }
        var change = Change(seqID: seqID, xid: xid, table: table, operation: operation, key: key, data: data,
                            encodedSize: size)
        switch operation {
        case .insert where data == nil,
             .update where data == nil || key == nil,
             .delete where key == nil:
            throw ReplayError(.change, "the queue lacks the \(data == nil ? "data" : "key") row of this \(operation)",
                              change: change.location)
        case .insert, .update, .delete, .truncate:
            break
        }
        if operation == .truncate {
            change.key = nil
            change.data = nil
        }
        return change
    }
}

/// A master sequence's last handed-out value, to carry to the slaves.
public struct SequenceValue: Sendable, Hashable {
    public var schema: String
    public var name: String
    public var lastValue: Int64

    /// `schema.name`, quoted for SQL.
    var quotedName: String { SQLIdentifier.quote(schema: schema, name: name) }
}
