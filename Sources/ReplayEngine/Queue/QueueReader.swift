import LibPQ
import Logging
import PendingDecoder

/// Reads one batch of committed changes from the master's queue.
///
/// A batch is what a snapshot `current` sees committed and the slave's
/// progress snapshot `previous` did not: every change of every master
/// transaction that committed between the two, in "SeqId" order. `current`
/// is the reading REPEATABLE READ transaction's own snapshot, or, when the
/// capture recorded a snapshot since `previous` ("PendingMark", one every
/// 32768 changes), the first such mark: a long backlog is then replayed in
/// parts, each committed on the slave and each ending in a state the master
/// had (docs/DESIGN.md, "Parts"). Uncommitted transactions are hidden by
/// MVCC and come in a later batch, whole.
///
/// It is read in chunks, each in two steps: a cursor over the batch's
/// "Pending" rows in "SeqId" order gives the chunk's changes, then one query
/// reads the "PendingData" rows of the chunk's "SeqId" range. Only the small
/// "Pending" rows are sorted up front; each chunk's key and data rows come
/// from a few block ranges of "PendingData"'s BRIN index, so the first chunk
/// arrives without waiting for the whole batch, and the master reads chunk
/// n + 1 while chunk n is applied (`prefetch`).
final class QueueReader {
    private let connection: Connection
    private let logger: Logger
    private var open = false
    /// "Pending" rows of the next chunk, fetched, whose "PendingData" rows
    /// are not asked for yet.
    private var ahead: QueryResult?
    /// The chunk whose "PendingData" rows `prefetch` asked for.
    private var requested: QueryResult?
    /// The last FETCH returned fewer rows than asked: nothing more to read.
    private var exhausted = false
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
        /// The batch ends at a mark: transactions committed after it wait
        /// for the next batch, which can start at once.
        var endsAtMark: Bool
    }

    init(connection: Connection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// The first mark usable after snapshots whose highest xmax is $1: one
    /// with a greater xmax was taken after them (a snapshot's xmax only
    /// grows), so it sees every transaction they see, each of which had
    /// ended by then. (A transaction running in both, even a long one in
    /// another database, is left out of both.)
    static let firstMarkQuery = """
        SELECT m."Snapshot"::text FROM "PendingMark" m
        WHERE pg_snapshot_xmax(m."Snapshot") > $1::xid8
        ORDER BY m."SeqId" LIMIT 1
        """

    /// The batch after the snapshot $1 (and, with `endingAtMark`, up to
    /// the mark $2).
    static func cursorQuery(endingAtMark: Bool) -> String {
        cursor(selecting: """
            p."XID" >= pg_snapshot_xmin($1::pg_snapshot)
              AND NOT pg_visible_in_snapshot(p."XID", $1::pg_snapshot)
            """, endingAt: endingAtMark ? "$2::pg_snapshot" : nil)
    }

    /// The batch for several slaves at once: every change some of the
    /// snapshots in $2 do not see ($1 is the lowest of their xmins); each
    /// slave then skips what its own snapshot sees (`MasterSnapshot.sees`).
    /// With `endingAtMark`, up to the mark $3.
    static func sharedCursorQuery(endingAtMark: Bool) -> String {
        cursor(selecting: """
            p."XID" >= $1::xid8
              AND EXISTS (SELECT FROM unnest($2::pg_snapshot[]) AS s(snapshot)
                          WHERE NOT pg_visible_in_snapshot(p."XID", s.snapshot))
            """, endingAt: endingAtMark ? "$3::pg_snapshot" : nil)
    }

    /// The cursor over the "Pending" rows that match `condition` (on `p`),
    /// in "SeqId" order. "Pending"'s BRIN index on "XID" (MirrorSetup.sql)
    /// finds them. Ending at a mark, only the rows it sees: below its xmax
    /// (which bounds the index scan) and below its xmin or visible in it.
    /// The columns are sorted as stored (xid8 and "char" print as text
    /// anyway): casting them first widened every sorted row, about 10 ms
    /// more per 160,000 changes.
    static func cursor(selecting condition: String, endingAt mark: String?) -> String {
        let bound = mark.map { mark in
            """

              AND p."XID" < pg_snapshot_xmax(\(mark))
              AND (p."XID" < pg_snapshot_xmin(\(mark)) OR pg_visible_in_snapshot(p."XID", \(mark)))
            """
        } ?? ""
        return """
            DECLARE dbmirror_batch NO SCROLL CURSOR FOR
            SELECT p."SeqId", p."XID", p."TableName", p."Op"
            FROM "Pending" p
            WHERE \(condition)\(bound)
            ORDER BY p."SeqId"
            """
    }

    /// The key and data rows of the changes whose "SeqId" is from $1 to $2,
    /// in the order the BRIN bitmap scan finds them (`changes(_:rows:)`
    /// orders them by "SeqId", mostly finding them in order already: sorting
    /// on the master cost it about 1 ms per 5,000-row chunk). A range can
    /// hold rows of changes outside the batch (applied, not yet cleaned up):
    /// `changes(_:rows:)` skips them. A filter on the chunk's exact SeqIds
    /// would not help: the BRIN index would be scanned once per array element.
    static let rowsQuery = """
        SELECT "SeqId", "IsKey", "Data" FROM "PendingData"
        WHERE "SeqId" BETWEEN $1 AND $2
        """

    /// The batch transaction's plans: the queue's statistics lag its growth
    /// (a catch-up reads rows written since autovacuum last looked), and on
    /// them the planner costs a sequential scan of all "PendingData" below a
    /// BRIN bitmap scan of one chunk's block ranges; each chunk then read the
    /// whole table. Parallel workers would only add their start-up to
    /// queries that read a few thousand rows.
    static let planSettings = """
        SELECT set_config('enable_seqscan', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)
        """

    static let sequenceQuery = """
        SELECT n.nspname, c.relname, pg_sequence_last_value(c.oid)
        FROM "MirroredSequence" m
        JOIN pg_class c ON c.oid = m."SequenceName"
        JOIN pg_namespace n ON n.oid = c.relnamespace
        ORDER BY 1, 2
        """

    /// Opens the batch after `previous`: its end (snapshot or mark) and its
    /// sequence values in one round trip, then its cursor and the first
    /// chunk's "Pending" rows in another.
    /// With `upkeep` (a second master connection, `QueueIndexes.openUpkeep`),
    /// the queue's BRIN summary runs there meanwhile. Without
    /// `endingAtMarks`, the batch runs up to the transaction's own snapshot
    /// (for work that reads the master in the same transaction).
    func begin(after previous: MasterSnapshot, limit: Int = 5000, upkeep: Connection? = nil,
               endingAtMarks: Bool = true) throws(ReplayError) -> Batch {
        try begin(after: [previous], limit: limit, upkeep: upkeep, endingAtMarks: endingAtMarks)
    }

    /// Opens a batch for several slaves, after each of `previous`.
    func begin(after previous: [MasterSnapshot], limit: Int = 5000, upkeep: Connection? = nil,
               endingAtMarks: Bool = true) throws(ReplayError) -> Batch {
        let highestXmax = String(previous.map(\.xmax).max() ?? 0)
        // Each chunk's "PendingData" rows are found through the BRIN index,
        // which returns every block range not yet summarised: summarised on
        // `upkeep` while this connection sorts, else here first.
        let summarizing = upkeep.map { QueueIndexes.startSummary(on: $0, logger: logger) } ?? false
        if !summarizing {
            QueueIndexes.summarizeNewRanges(on: connection, waitIfLarge: true, logger: logger)
        }
        defer {
            if summarizing, let upkeep { QueueIndexes.finishSummary(on: upkeep, logger: logger) }
        }
        let snapshotText: String
        let mark: String?
        let sequences: [SequenceValue]
        let size = min(limit, fetchSize)
        do throws(PostgresError) {
            open = true
            // The batch's end first (a mark, else this transaction's
            // snapshot); then the cursor up to it and the first chunk.
            let results = try connection.executePipeline([
                ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", []),
                ("SELECT pg_current_snapshot()::text", []),
                (Self.sequenceQuery, []),
                (Self.planSettings, []),
            ] + (endingAtMarks ? [(Self.firstMarkQuery, [highestXmax])] : []))
            for result in results { _ = try result.get() }
            mark = endingAtMarks ? try results[4].get().scalar : nil
            let current = try results[1].get().scalar ?? ""
            snapshotText = mark ?? current
            sequences = Self.sequences(in: try results[2].get())
            let markParameter = mark.map { [$0] } ?? []
            let cursor: (String, [String?])
            if previous.count == 1, let only = previous.first {
                cursor = (Self.cursorQuery(endingAtMark: mark != nil), [only.text] + markParameter)
            } else {
                let list = ArrayLiteral.text(previous.map(\.text))
                cursor = (Self.sharedCursorQuery(endingAtMark: mark != nil),
                          [String(previous.map(\.xmin).min() ?? 0), list] + markParameter)
            }
            let opened = try connection.executePipeline([cursor, ("FETCH FORWARD \(size) FROM dbmirror_batch", [])])
            for result in opened { _ = try result.get() }
            let first = try opened[1].get()
            exhausted = first.rowCount < size
            ahead = first
        } catch {
            throw ReplayError(master: error)
        }
        guard let current = MasterSnapshot(snapshotText) else {
            throw ReplayError(.master, "the master returned an unreadable snapshot '\(snapshotText)'")
        }
        return Batch(current: current, sequences: sequences, endsAtMark: mark != nil)
    }

    /// Asks for the next chunk's "PendingData" rows without waiting: the
    /// master reads them while the caller applies the current chunk;
    /// `next(limit:)` collects them.
    func prefetch(limit: Int) throws(ReplayError) {
        guard requested == nil, let chunk = ahead, chunk.rowCount > 0 else { return }
        do throws(PostgresError) {
            try connection.startQuery(Self.rowsQuery, parameters: Self.range(of: chunk))
        } catch {
            throw ReplayError(master: error)
        }
        requested = chunk
        ahead = nil
    }

    /// The master connection while a prefetch is under way, for
    /// `Connection.waitForResult(servicing:)`.
    var prefetching: Connection? { requested != nil ? connection : nil }

    /// The next up to `limit` changes (prefetched or read now); empty when
    /// the batch is exhausted. Fetches the following chunk's "Pending" rows
    /// before returning, so that `prefetch` can ask for their data at once.
    func next(limit: Int) throws(ReplayError) -> [Change] {
        let chunk: QueryResult
        let rows: QueryResult
        do throws(PostgresError) {
            if let prefetched = requested {
                requested = nil
                chunk = prefetched
                rows = try connection.finishQuery(statement: Self.rowsQuery)
            } else if let fetched = ahead, fetched.rowCount > 0 {
                ahead = nil
                chunk = fetched
                rows = try connection.execute(Self.rowsQuery, parameters: Self.range(of: chunk))
            } else {
                return []
            }
        } catch {
            throw ReplayError(master: error)
        }
        let changes = try Self.changes(chunk, rows: rows)
        adaptFetchSize(to: changes, limit: limit)
        guard !exhausted else { return changes }
        do throws(PostgresError) {
            let size = min(limit, fetchSize)
            let following = try connection.execute("FETCH FORWARD \(size) FROM dbmirror_batch")
            exhausted = following.rowCount < size
            ahead = following
        } catch {
            throw ReplayError(master: error)
        }
        return changes
    }

    /// True while the batch may have more changes.
    var mayHaveMore: Bool { (ahead?.rowCount ?? 0) > 0 }

    /// The first and last "SeqId" of a chunk's "Pending" rows (in "SeqId" order).
    private static func range(of chunk: QueryResult) -> ParameterBuffer {
        ParameterBuffer([chunk.string(row: 0, column: 0), chunk.string(row: chunk.rowCount - 1, column: 0)])
    }

    /// Sets the next FETCH's size from the queued bytes of a chunk's changes.
    private func adaptFetchSize(to changes: [Change], limit: Int) {
        guard !changes.isEmpty else { return }
        let bytes = changes.reduce(0) { $0 + $1.encodedSize }
        let average = max(1, bytes / changes.count)
        fetchSize = max(1, min(limit, Self.chunkBytes / average))
    }

    /// Pairs each change of `chunk` (in "SeqId" order) with its key and data
    /// rows from `rows` (in any order: `RowsBySeqID`), skipping rows of
    /// changes outside the batch.
    /// The chunk's rows are decoded into memory they share, freed once the
    /// last of them is dropped.
    static func changes(_ chunk: QueryResult, rows: QueryResult) throws(ReplayError) -> [Change] {
        var changes: [Change] = []
        changes.reserveCapacity(chunk.rowCount)
        let decoder = PendingRowDecoder()
        let sorted = RowsBySeqID(rows)
        var next = 0
        var table = ""
        for row in 0..<chunk.rowCount {
            // An unreadable SeqId takes no rows; `change` reports it.
            let seqID = chunk.int64(row: row, column: 0) ?? .min
            var keyRow: Int?
            var dataRow: Int?
            while next < sorted.count, sorted.seqID(next) <= seqID {
                if sorted.seqID(next) == seqID {
                    let found = sorted.row(next)
                    if rows.withValueBytes(row: found, column: 1, { $0?.first == UInt8(ascii: "t") }) {
                        keyRow = found
                    } else {
                        dataRow = found
                    }
                }
                next += 1
            }
            table = tableName(in: chunk, row: row, previous: table)
            changes.append(try change(in: chunk, row: row, table: table, rows: rows, keyRow: keyRow, dataRow: dataRow,
                                      decoder: decoder))
        }
        return changes
    }

    /// Row `row`'s "TableName": `previous` itself when it is the same name
    /// (runs of one table are the rule), so that a chunk's changes share
    /// one String per table and compare and hash it cheaply.
    private static func tableName(in chunk: QueryResult, row: Int, previous: String) -> String {
        chunk.withValueBytes(row: row, column: 2) { bytes in
            guard let bytes else { return "" }
            return previous.utf8.elementsEqual(bytes) ? previous : String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Ends the master transaction (it only read).
    func end() {
        guard open else { return }
        open = false
        ahead = nil
        do throws(PostgresError) {
            if requested != nil {
                requested = nil
                _ = try? connection.finishQuery(statement: Self.rowsQuery)
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

    /// Decodes row `row` of a chunk's "Pending" rows, with its key and data
    /// rows (rows `keyRow` and `dataRow` of `rows`, decoded by `decoder`), into
    /// a `Change`. `table` is its "TableName", read by the caller (see `changes`).
    static func change(in result: QueryResult, row: Int, table: String, rows: QueryResult, keyRow: Int?, dataRow: Int?,
                       decoder: PendingRowDecoder) throws(ReplayError) -> Change {
        guard let seqID = result.int64(row: row, column: 0), let xid = result.int64(row: row, column: 1).flatMap(UInt64.init(exactly:)) else {
            let seqText = result.string(row: row, column: 0) ?? ""
            let xidText = result.string(row: row, column: 1) ?? ""
            throw ReplayError(.master, "the queue returned an unreadable SeqId '\(seqText)' or XID '\(xidText)'")
        }
        let opByte = result.withValueBytes(row: row, column: 3) { $0?.count == 1 ? $0?.first : nil }
        // 'U': an update that kept its one-column key, whose new row starts
        // with that key and which has no key row (docs/FORMAT.md).
        let keyLeadsData = opByte == UInt8(ascii: "U")
        guard let opByte,
              let operation = keyLeadsData ? .update : ChangeOperation(rawValue: Character(Unicode.Scalar(opByte)))
        else {
            let opText = result.string(row: row, column: 3) ?? ""
            let position = ChangeLocation(seqID: seqID, xid: xid, table: table, operation: "op '\(opText)'", key: nil)
            throw ReplayError(.change, "unknown operation '\(opText)' in the queue", change: position)
        }
        let position = ChangeLocation(seqID: seqID, xid: xid, table: table, operation: operation.description, key: nil)
        // The encoded bytes of both rows, counted as they are decoded.
        var size = 0
        func decode(_ row: Int?, _ what: String) throws(ReplayError) -> PendingRow? {
            guard let row else { return nil }
            do throws(PendingDecodingError) {
                return try rows.withValueBytes(row: row, column: 2) { (bytes) throws(PendingDecodingError) -> PendingRow? in
                    guard let bytes else { return nil }
                    size += bytes.count
                    return try decoder.decode(bytes)
                }
            } catch {
                throw undecodable(what, error, change: position)
            }
        }
        var key = try decode(keyRow, "key row")
        let data = try decode(dataRow, "data row")
        if keyLeadsData {
            guard keyRow == nil else {
                throw ReplayError(.change, "the queue has a key row for an update logged as 'U', which has none",
                                  change: position)
            }
            key = try leadingKey(of: dataRow, in: rows, decoder: decoder, position: position)
        }
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

extension QueueReader {
    /// The old key of a 'U' update: the first pair of its new row, decoded as
    /// a row of its own so that it reads like any key row. Nil without a data
    /// row or with an empty one (the caller reports the missing key).
    static func leadingKey(of dataRow: Int?, in rows: QueryResult, decoder: PendingRowDecoder,
                           position: ChangeLocation) throws(ReplayError) -> PendingRow? {
        guard let dataRow else { return nil }
        do throws(PendingDecodingError) {
            return try rows.withValueBytes(row: dataRow, column: 2) { (bytes) throws(PendingDecodingError) -> PendingRow? in
                guard let bytes, let length = try firstPairLength(bytes) else { return nil }
                return try decoder.decode(UnsafeRawBufferPointer(rebasing: bytes[..<length]))
            }
        } catch {
            throw undecodable("data row", error, change: position)
        }
    }

    /// The error for a "PendingData" row (`what`) that does not decode:
    /// where in it, and which change.
    private static func undecodable(_ what: String, _ error: PendingDecodingError, change position: ChangeLocation) -> ReplayError {
        let column = error.columnIndex.map { ", column #\($0)" } ?? ""
        return ReplayError(.change, "undecodable \(what) in \"PendingData\" at byte offset \(error.offset)\(column): \(error)",
                           change: position)
    }

    /// The encoded length of the first pair of `bytes`, nil for an empty row.
    private static func firstPairLength(_ bytes: UnsafeRawBufferPointer) throws(PendingDecodingError) -> Int? {
        struct Stop: Error {}
        var length: Int?
        do {
            try PendingDecoder.forEachColumn(in: bytes) { (field: PendingField) throws(Stop) in
                // A pair ends `' ` after its value, or `"= ` after a NULL's name.
                let end = field.rawValue.map { $0.endIndexOffset(in: bytes) + 2 } ?? field.rawName.endIndexOffset(in: bytes) + 3
                length = end
                throw Stop()
            }
        } catch {
            // Stopping after the first pair is the body's only error.
            if case .decoding(let error) = error { throw error }
        }
        return length
    }
}

private extension UnsafeRawBufferPointer {
    /// Where this view, a slice of `whole`, ends, as an offset into `whole`.
    func endIndexOffset(in whole: UnsafeRawBufferPointer) -> Int {
        guard let base = baseAddress, let wholeBase = whole.baseAddress else { return 0 }
        return base - wholeBase + count
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
