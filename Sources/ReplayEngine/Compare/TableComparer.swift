import LibPQ

/// Compares one mirrored table between the master and a slave, each in its
/// open transaction (see `CaughtUpSlave`), both sides working at once:
///
/// 1. one pass per side: row count and sum of row hashes (`RowChecksum`);
///    when they agree the table is equal, and that was the only scan;
/// 2. otherwise a pass per side for the 256 bucket summaries, and
/// 3. a last pass per side reading (key, row hash) of the differing
///    buckets' rows, in bucket order, to name the differing keys.
struct TableComparer {
    var fetchSize = 10_000
    var sampleLimit = 10

    func compare(_ target: SlaveTarget, host: String, master: Connection, slave: Connection) throws(ReplayError) -> TableComparison {
        let table = target.table
        let masterRelation = "ONLY \(table.quotedName)"
        let (masterTotals, slaveTotals) = try BothSides.query(
            master: master, RowChecksum.totals(of: masterRelation, table: table),
            slave: slave, RowChecksum.totals(of: target.onlyName, table: table), what: "checksum of \(table.captureName)")
        let masterCount = masterTotals.string(row: 0, column: 0).flatMap { Int($0) } ?? 0
        let none = TableComparison.Keys(count: 0, sample: [])
        if masterTotals.string(row: 0, column: 0) == slaveTotals.string(row: 0, column: 0)
            && masterTotals.string(row: 0, column: 1) == slaveTotals.string(row: 0, column: 1) {
            return TableComparison(host: host, table: table.captureName, outcome: .equal, masterRows: masterCount,
                                   slaveRows: masterCount, changed: none, missingOnSlave: none, extraOnSlave: none)
        }
        let (masterResult, slaveResult) = try BothSides.query(
            master: master, RowChecksum.buckets(of: masterRelation, table: table),
            slave: slave, RowChecksum.buckets(of: target.onlyName, table: table), what: "bucket checksums of \(table.captureName)")
        let masterBuckets = Self.summaries(masterResult)
        let slaveBuckets = Self.summaries(slaveResult)
        let masterRows = masterBuckets.values.reduce(0) { $0 + $1.rows }
        let slaveRows = slaveBuckets.values.reduce(0) { $0 + $1.rows }
        let differing = BucketDiff.differingBuckets(master: masterBuckets, slave: slaveBuckets)
        var differences = BucketDiff.Differences(sampleLimit: sampleLimit)
        if !differing.isEmpty {
            let buckets = "{" + differing.map(String.init).joined(separator: ",") + "}"
            var masterRowsCursor = try RowStream(connection: master, side: "master",
                                                 declare: RowChecksum.rowsCursor(of: masterRelation, table: table),
                                                 buckets: buckets, fetchSize: fetchSize)
            var slaveRowsCursor = try RowStream(connection: slave, side: "slave",
                                                declare: RowChecksum.rowsCursor(of: target.onlyName, table: table),
                                                buckets: buckets, fetchSize: fetchSize)
            for bucket in differing {
                differences.add(master: try masterRowsCursor.take(bucket: bucket), slave: try slaveRowsCursor.take(bucket: bucket))
            }
            try masterRowsCursor.close()
            try slaveRowsCursor.close()
        }
        let keyNames = "(" + table.key.joined(separator: ", ") + ")="
        func keys(_ sample: BucketDiff.KeySample) -> TableComparison.Keys {
            TableComparison.Keys(count: sample.count, sample: sample.keys.sorted().map { keyNames + $0 })
        }
        // Totals that differ while every bucket agrees would take two hash
        // collisions; count it as a difference all the same.
        return TableComparison(
            host: host, table: table.captureName, outcome: .different,
            masterRows: masterRows, slaveRows: slaveRows,
            changed: keys(differences.changed), missingOnSlave: keys(differences.missingOnSlave),
            extraOnSlave: keys(differences.extraOnSlave))
    }

    /// Bucket → summary from a summary query's result.
    private static func summaries(_ result: QueryResult) -> [Int: BucketDiff.Summary] {
        var buckets: [Int: BucketDiff.Summary] = [:]
        for row in 0..<result.rowCount {
            guard let bucket = result.string(row: row, column: 0).flatMap({ Int($0) }),
                  let rows = result.string(row: row, column: 1).flatMap({ Int($0) }) else { continue }
            buckets[bucket] = BucketDiff.Summary(rows: rows, hashSum: result.string(row: row, column: 2) ?? "")
        }
        return buckets
    }
}

/// The rows cursor of one side, read a bucket at a time.
private struct RowStream {
    let connection: Connection
    let side: String
    let fetchSize: Int
    private var pending: [BucketDiff.Row] = []
    private var position = 0
    private var exhausted = false

    init(connection: Connection, side: String, declare: String, buckets: String, fetchSize: Int) throws(ReplayError) {
        self.connection = connection
        self.side = side
        self.fetchSize = fetchSize
        do throws(PostgresError) {
            try connection.execute(declare, [buckets])
        } catch {
            throw BothSides.error(side, "reading the differing rows", error)
        }
    }

    /// Every row of `bucket` (buckets must be asked for in ascending order).
    mutating func take(bucket: Int) throws(ReplayError) -> [BucketDiff.Row] {
        var rows: [BucketDiff.Row] = []
        while true {
            if position == pending.count {
                guard !exhausted else { return rows }
                try refill()
                continue
            }
            let row = pending[position]
            if row.bucket > bucket { return rows }
            position += 1
            if row.bucket == bucket { rows.append(row) }
        }
    }

    private mutating func refill() throws(ReplayError) {
        let result: QueryResult
        do throws(PostgresError) {
            result = try connection.execute("FETCH FORWARD \(fetchSize) FROM \(RowChecksum.cursorName)")
        } catch {
            throw BothSides.error(side, "reading the differing rows", error)
        }
        pending.removeAll(keepingCapacity: true)
        position = 0
        for row in 0..<result.rowCount {
            pending.append(BucketDiff.Row(
                bucket: result.string(row: row, column: 0).flatMap { Int($0) } ?? -1,
                key: result.string(row: row, column: 1) ?? "",
                hash: result.string(row: row, column: 2) ?? ""))
        }
        exhausted = result.rowCount < fetchSize
    }

    func close() throws(ReplayError) {
        do throws(PostgresError) {
            try connection.execute("CLOSE \(RowChecksum.cursorName)")
        } catch {
            throw BothSides.error(side, "closing the rows cursor", error)
        }
    }
}

/// Running one query on the master and one on the slave at the same time
/// (each server works while the other does), through libpq's pipeline mode.
enum BothSides {
    static func query(master: Connection, _ masterSQL: String, slave: Connection, _ slaveSQL: String,
                      what: String) throws(ReplayError) -> (QueryResult, QueryResult) {
        try send(masterSQL, on: master, side: "master", what: what)
        do throws(ReplayError) {
            try send(slaveSQL, on: slave, side: "slave", what: what)
        } catch {
            _ = try? receive(on: master, side: "master", what: what)
            throw error
        }
        let masterResult: Result<QueryResult, ReplayError>
        do throws(ReplayError) {
            masterResult = .success(try receive(on: master, side: "master", what: what))
        } catch {
            masterResult = .failure(error)
        }
        let slaveResult = try receive(on: slave, side: "slave", what: what)
        return (try masterResult.get(), slaveResult)
    }

    private static func send(_ sql: String, on connection: Connection, side: String, what: String) throws(ReplayError) {
        do throws(PostgresError) {
            try connection.enterPipelineMode()
            try connection.sendQuery(sql)
            try connection.pipelineSync()
        } catch {
            throw Self.error(side, what, error)
        }
    }

    private static func receive(on connection: Connection, side: String, what: String) throws(ReplayError) -> QueryResult {
        do throws(PostgresError) {
            let first = try connection.nextPipelineResult()
            guard case .sync = try connection.nextPipelineResult() else {
                throw PostgresError(kind: .unexpectedResult, message: "more results than queries")
            }
            try connection.exitPipelineMode()
            switch first {
            case .success(let result): return result
            case .failure(let error): throw error
            case .aborted, .sync:
                throw PostgresError(kind: .unexpectedResult, message: "the query was not run")
            }
        } catch {
            throw Self.error(side, what, error)
        }
    }

    static func error(_ side: String, _ what: String, _ error: PostgresError) -> ReplayError {
        ReplayError(side == "master" ? .master : .slave, "\(side): \(what): \(ReplayError.serverText(error))", postgres: error)
    }
}
