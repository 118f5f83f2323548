import LibPQ

/// Applying a chunk of changes inside the open slave transaction: prepared
/// statements in pipeline mode, COPY for long runs of inserts, every failure
/// mapped back to the exact change.
/// A statement sent in the slave's pipeline whose result is still to be
/// read. It keeps the changes it carries, so a failure read later (after
/// more chunks were sent) still names its change.
struct PendingResult {
    enum Purpose {
        /// A PREPARE for `changes[0]`'s statement.
        case prepare
        /// UPDATE/DELETE of one change: exactly one row.
        case oneRow
        /// INSERT of one change, or a TRUNCATE: success is enough.
        case succeed
        /// Set-based INSERT: one row per change.
        case allRows
        /// Set-based UPDATE/DELETE: RETURNING each change's position once.
        case positions
        /// Advancing one sequence.
        case sequence(SequenceValue)
        /// Progress, COMMIT: success is enough.
        case transaction
        /// The WAL position read after COMMIT.
        case walPosition
    }

    var purpose: Purpose
    /// The changes the statement carries; the first names a failure.
    var changes: ChangeSelection = .none
}

/// A sync point in the slave's pipeline: how many of the pending results,
/// rows and bytes (counted from the oldest) it closes.
struct SyncMark {
    var results: Int
    var rows: Int
    var bytes: Int
}

/// A COPY ended but not yet confirmed, with what maps its failure to a change.
struct CopyInFlight {
    var statement: String
    var changes: [Change]
    var indices: [Int]
}

extension SlaveSession {
    /// Applies `changes` (in "SeqId" order) in the open transaction.
    ///
    /// With `keepPipelineOpen`, statements stay in the pipeline after the
    /// call (up to `statementsPerSync` statements or `rowsPerSync` rows) and
    /// are checked at the next sync: the slave works on them while the next
    /// chunk is fetched and planned, and `commit` syncs the rest together
    /// with the commit. Otherwise everything is checked before returning.
    ///
    /// - Parameter precise: keep the master's order and one statement per
    ///   change (COPY for runs of inserts), so a failure names exactly the
    ///   first change that fails. Otherwise, in replica mode, changes are
    ///   grouped by table and folded to set-based statements (see
    ///   `ApplyPlanner.netEffect`); a failure a set-based statement cannot
    ///   pin on one change is thrown with `retryPrecisely`.
    /// - Parameter master: a connection whose input is read while waiting
    ///   for the slave (the master, fetching the next chunk meanwhile).
    /// - Parameter shared: where the slaves of a shared batch leave the
    ///   chunk's fast plan for each other.
    func apply(_ changes: [Change], precise: Bool = false, servicing master: Connection? = nil,
               keepPipelineOpen: Bool = false, shared: SharedPlan? = nil) throws(ReplayError) {
        let tables = try resolveTables(changes, servicing: master)
        let plan: ApplyPlan
        if !precise && replicaRole && settings.setBased {
            // Far from the slave, COPY's extra round trips cost more than it saves.
            let copyThreshold = isFar ? Int.max : settings.copyThreshold
            let traits = tables.mapValues(\.traits)
            let make = { ApplyPlanner.netEffect(changes, traits: traits, copyThreshold: copyThreshold) }
            plan = shared?.plan(traits: traits, copyThreshold: copyThreshold, make: make) ?? make()
        } else {
            plan = ApplyPlanner.sequential(changes, copyThreshold: settings.copyThreshold)
        }
        let planned = plan.changes
        for step in plan.steps {
            switch step {
            case .statement(let index):
                try enterPipeline(servicing: master)
                try send(planned[index], table: tables[planned[index].table])
                pendingRows += 1
                pendingBytes += planned[index].encodedSize
            case .truncate(let indices):
                try enterPipeline(servicing: master)
                let list = indices.compactMap { tables[planned[$0].table] }.map { ($0.quotedName, $0.partitioned) }
                do throws(PostgresError) {
                    try connection.sendQuery(StatementText.truncate(tables: list))
                } catch {
                    throw ReplayError(change: planned[indices[0]].location, slave: error)
                }
                pending.append(PendingResult(purpose: .succeed, changes: ChangeSelection(planned, [indices[0]])))
                pendingRows += 1
            case .copy(let indices):
                try settle(servicing: master)
                if let table = tables[planned[indices[0]].table] {
                    master?.readAvailableInput()
                    try copy(planned, indices, into: table)
                }
            case .insertSet(let indices), .updateSet(let indices), .deleteSet(let indices):
                try enterPipeline(servicing: master)
                try sendSet(planned, indices, table: tables[planned[indices[0]].table])
                pendingRows += indices.count
                pendingBytes += indices.reduce(0) { $0 + planned[$1].encodedSize }
            }
            if overPipelineLimits {
                // Read the oldest chunks' results; the newest stay in flight,
                // so the slave has work while this one waits.
                while overPipelineLimits, syncMarks.count > 1 {
                    try readOldestGroup(servicing: master)
                }
                if overPipelineLimits { try sync(servicing: master) }
            }
        }
        if keepPipelineOpen {
            try markSync()
        } else {
            try settle(servicing: master)
        }
    }

    /// Sends what finishes the batch (sequences, progress, COMMIT, WAL
    /// position) behind whatever is still in the pipeline, syncs once and
    /// checks everything; returns the WAL position after the commit.
    func finishInPipeline(_ statements: [(sql: String, parameters: [String?])], sequences: [SequenceValue]) throws(ReplayError) -> String {
        try enterPipeline()
        for (index, statement) in statements.enumerated() {
            do throws(PostgresError) {
                try connection.sendQuery(statement.sql, parameters: ParameterBuffer(statement.parameters))
            } catch {
                throw ReplayError(slave: error)
            }
            let purpose: PendingResult.Purpose =
                index < sequences.count ? .sequence(sequences[index])
                : index == statements.count - 1 ? .walPosition : .transaction
            pending.append(PendingResult(purpose: purpose))
        }
        return try settle(servicing: nil) ?? "0/0"
    }

    /// The slave's table for every table the chunk names; a missing one is
    /// the failure of the first change that names it.
    private func resolveTables(_ changes: [Change], servicing master: Connection?) throws(ReplayError) -> [String: SlaveTable] {
        // A chunk names few tables, mostly in runs of one: the distinct names
        // are collected first (by index: `for change in changes` copied every
        // change, three reference counts up and down each), then each is
        // looked up once. The names are shared per chunk (`QueueReader`), so
        // comparing them is mostly comparing two pointers.
        var names: [String] = []
        var last = -1
        for index in changes.indices {
            if last >= 0 && changes[index].table == names[last] { continue }
            if let seen = names.firstIndex(of: changes[index].table) {
                last = seen
            } else {
                names.append(changes[index].table)
                last = names.count - 1
            }
        }
        let unknown = names.filter { !catalog.knows($0) }
        if !unknown.isEmpty {
            // Reading the catalog needs an idle connection.
            try settle(servicing: master)
            do throws(PostgresError) {
                try catalog.load(unknown, on: connection)
            } catch {
                let first = changes.first { unknown.contains($0.table) }
                throw first.map { ReplayError(change: $0.location, slave: error) } ?? ReplayError(slave: error)
            }
        }
        var tables: [String: SlaveTable] = [:]
        for name in names {
            guard let table = catalog.cached(name) else {
                let first = changes.first { $0.table == name }
                throw ReplayError(.change, "table \(name) does not exist on the slave", change: first?.location)
            }
            tables[name] = table
        }
        return tables
    }

    /// Reads every outstanding result (the pipeline's, then a COPY in
    /// flight) and leaves pipeline mode: the connection is idle. Returns the
    /// WAL position if one was asked for.
    @discardableResult
    func settle(servicing master: Connection?) throws(ReplayError) -> String? {
        let position = try sync(servicing: master)
        try leavePipeline()
        try finishCopyInFlight(servicing: master)
        return position
    }

    func enterPipeline(servicing master: Connection? = nil) throws(ReplayError) {
        try finishCopyInFlight(servicing: master)
        guard !connection.isInPipelineMode else { return }
        do throws(PostgresError) {
            try connection.enterPipelineMode()
        } catch {
            throw ReplayError(slave: error)
        }
    }

    func leavePipeline() throws(ReplayError) {
        guard connection.isInPipelineMode else { return }
        do throws(PostgresError) {
            try connection.exitPipelineMode()
        } catch {
            throw ReplayError(slave: error)
        }
    }

    /// Queues `change` as its prepared statement, preparing it first if new.
    private func send(_ change: Change, table: SlaveTable?) throws(ReplayError) {
        guard let table else { return }
        let key = StatementBuilder.key(for: change, table: table)
        let statement: PreparedStatement
        do throws(StatementBuilder.Mismatch) {
            statement = try preparedStatement(for: key, table: table)
        } catch {
            throw ReplayError(.change, error.message, change: change.location)
        }
        do throws(PostgresError) {
            try prepareIfNew(statement, key: key, for: change)
            parameters.removeAll()
            statement.bind(change, into: &parameters)
            try connection.sendQueryPrepared(name: statement.name, parameters: parameters)
            pending.append(PendingResult(purpose: statement.expectsOneRow ? .oneRow : .succeed, changes: ChangeSelection([change])))
        } catch {
            throw ReplayError(change: change.location, slave: error)
        }
    }

    /// The statement for `key`: the one this connection prepared already,
    /// else a new one (not yet sent; `prepareIfNew` sends it).
    private func preparedStatement(for key: StatementKey, table: SlaveTable) throws(StatementBuilder.Mismatch) -> PreparedStatement {
        if let known = statements[key] { return known }
        return try StatementBuilder.build(key, table: table, name: "dbmirror_\(statements.count + 1)")
    }

    /// Queues the PREPARE of `statement` unless this connection has it, and
    /// remembers it; a failure of the PREPARE names `change`.
    private func prepareIfNew(_ statement: PreparedStatement, key: StatementKey, for change: Change) throws(PostgresError) {
        guard statements[key] == nil else { return }
        try connection.sendPrepare(name: statement.name, sql: statement.sql)
        pending.append(PendingResult(purpose: .prepare, changes: ChangeSelection([change])))
        statements[key] = statement
    }

    /// Queues one set-based statement for `changes[indices]` (one table,
    /// one operation and column set, distinct rows).
    private func sendSet(_ changes: [Change], _ indices: [Int], table: SlaveTable?) throws(ReplayError) {
        guard let table, let firstIndex = indices.first else { return }
        let first = changes[firstIndex]
        let key = StatementBuilder.setKey(for: first, table: table)
        let statement: PreparedStatement
        do throws(StatementBuilder.Mismatch) {
            statement = try preparedStatement(for: key, table: table)
        } catch {
            // Not expressible as a set (an update that sets nothing):
            // one statement per change, which reports a mismatch exactly.
            for index in indices {
                try send(changes[index], table: table)
            }
            return
        }
        do throws(PostgresError) {
            try prepareIfNew(statement, key: key, for: first)
            parameters.removeAll()
            statement.bindSet(changes, indices, into: &parameters)
            try connection.sendQueryPrepared(name: statement.name, parameters: parameters)
            pending.append(PendingResult(purpose: key.kind == .insertSet ? .allRows : .positions,
                                         changes: ChangeSelection(changes, indices)))
        } catch {
            throw ReplayError(change: first.location, slave: error)
        }
    }

    private var overPipelineLimits: Bool {
        pending.count >= settings.statementsPerSync || pendingRows >= settings.rowsPerSync
            || pendingBytes >= settings.bytesPerSync
    }

    /// Sends a sync point behind the statements sent since the last one,
    /// without waiting.
    func markSync() throws(ReplayError) {
        guard pending.count > (syncMarks.last?.results ?? 0) else { return }
        do throws(PostgresError) {
            try connection.pipelineSync()
        } catch {
            throw ReplayError(slave: error)
        }
        syncMarks.append(SyncMark(results: pending.count, rows: pendingRows, bytes: pendingBytes))
    }

    /// Syncs the pipeline and checks every pending result; returns the WAL
    /// position if one was asked for.
    @discardableResult
    func sync(servicing master: Connection?) throws(ReplayError) -> String? {
        try markSync()
        var position: String?
        while !syncMarks.isEmpty {
            if let read = try readOldestGroup(servicing: master) { position = read }
        }
        return position
    }

    /// Reads and checks the results up to the oldest sync point, and the
    /// sync itself; returns the WAL position if one was among them. After a
    /// failure the groups behind it are left unread (the caller rolls back).
    @discardableResult
    private func readOldestGroup(servicing master: Connection?) throws(ReplayError) -> String? {
        let mark = syncMarks.removeFirst()
        var failure: ReplayError?
        var position: String?
        do throws(PostgresError) {
            for item in pending[..<mark.results] {
                try connection.waitForResult(servicing: master)
                switch try connection.nextPipelineResult() {
                case .success(let result):
                    if failure == nil {
                        failure = check(result, of: item)
                    }
                    if case .walPosition = item.purpose { position = result.scalar }
                case .failure(let error):
                    if failure == nil { failure = self.failure(error, of: item) }
                case .aborted:
                    break
                case .sync:
                    throw PostgresError(kind: .unexpectedResult, message: "pipeline sync arrived before every statement's result")
                }
            }
            try connection.waitForResult(servicing: master)
            guard case .sync = try connection.nextPipelineResult() else {
                throw PostgresError(kind: .unexpectedResult, message: "more pipeline results than statements sent")
            }
        } catch {
            throw failure ?? ReplayError(slave: error)
        }
        pending.removeFirst(mark.results)
        pendingRows -= mark.rows
        pendingBytes -= mark.bytes
        for index in syncMarks.indices {
            syncMarks[index].results -= mark.results
            syncMarks[index].rows -= mark.rows
            syncMarks[index].bytes -= mark.bytes
        }
        if let failure { throw failure }
        return position
    }

    /// The replay error for a statement the server rejected.
    private func failure(_ error: PostgresError, of item: PendingResult) -> ReplayError {
        switch item.purpose {
        case .sequence(let value):
            return ReplayError(.change, "cannot advance sequence \(value.quotedName) to \(value.lastValue): \(ReplayError.serverText(error))",
                               postgres: error)
        case .transaction, .walPosition:
            return ReplayError(slave: error)
        case .prepare, .oneRow, .succeed, .allRows, .positions:
            guard let first = item.changes.first else { return ReplayError(slave: error) }
            var failure = ReplayError(change: first.location, slave: error)
            // A set-based statement failed on one of its rows; which one, only
            // a change-by-change replay can tell.
            failure.retryPrecisely = item.changes.count > 1
            return failure
        }
    }

    /// The failure a successful result still reveals: a row not found, or
    /// a key that matched several rows.
    private func check(_ result: QueryResult, of item: PendingResult) -> ReplayError? {
        func notOne(_ index: Int, _ rows: Int) -> ReplayError {
            ReplayError(.change, rows == 0 ? "row not found on the slave" : "\(rows) rows matched the key on the slave, not one",
                        change: item.changes[index].location)
        }
        switch item.purpose {
        case .prepare, .succeed, .sequence, .transaction, .walPosition:
            return nil
        case .oneRow:
            if let rows = result.affectedRows, rows != 1 { return notOne(0, rows) }
            return nil
        case .allRows:
            guard let rows = result.affectedRows, rows != item.changes.count, let first = item.changes.first else { return nil }
            var error = ReplayError(.change, "a set-based insert stored \(rows) of \(item.changes.count) rows",
                                    change: first.location)
            error.retryPrecisely = true
            return error
        case .positions:
            var hits = [Int](repeating: 0, count: item.changes.count)
            for row in 0..<result.rowCount {
                guard let position = result.string(row: row, column: 0).flatMap({ Int($0) }),
                      position >= 1, position <= hits.count else { continue }
                hits[position - 1] += 1
            }
            if let position = hits.firstIndex(where: { $0 != 1 }) {
                return notOne(position, hits[position])
            }
            return nil
        }
    }

    /// Sends and empties `buffer`.
    private func sendCopyData(_ buffer: inout [UInt8]) throws(PostgresError) {
        let sent = buffer.withUnsafeBytes { bytes in
            Result { () throws(PostgresError) in try connection.putCopyData(bytes) }
        }
        buffer.removeAll(keepingCapacity: true)
        try sent.get()
    }

    /// Reads the result of the COPY in flight, if any; a failure names the
    /// change on the line the server reports.
    func finishCopyInFlight(servicing master: Connection?) throws(ReplayError) {
        guard let copy = copyInFlight else { return }
        copyInFlight = nil
        do throws(PostgresError) {
            try connection.waitForResult(servicing: master)
            let result = try connection.finishCopy(statement: copy.statement)
            if let rows = result.affectedRows, rows != copy.indices.count {
                throw PostgresError(kind: .unexpectedResult, message: "COPY stored \(rows) rows of \(copy.indices.count)")
            }
        } catch {
            throw Self.copyFailure(error, changes: copy.changes, indices: copy.indices)
        }
    }

    /// A COPY's failure as the failure of the change on the data line the
    /// server names in the error's context (the first, if it names none).
    private static func copyFailure(_ error: PostgresError, changes: [Change], indices: [Int]) -> ReplayError {
        let line = CopyText.lineNumber(inContext: error.context) ?? 1
        let index = indices[min(max(line, 1), indices.count) - 1]
        return ReplayError(change: changes[index].location, slave: error)
    }

    /// Sends `changes[indices]` (inserts into one table, one column set) by
    /// COPY on the idle connection (`settle`), and ends it without waiting:
    /// `finishCopyInFlight` reads its result before the connection's next command.
    private func copy(_ changes: [Change], _ indices: [Int], into table: SlaveTable) throws(ReplayError) {
        let first = changes[indices[0]]
        let key = StatementKey(table: first.table, kind: .insert,
                               dataNames: first.data.map(StatementBuilder.names) ?? [], keyNames: [])
        let shape: PreparedStatement
        do throws(StatementBuilder.Mismatch) {
            shape = try StatementBuilder.build(key, table: table, name: "")
        } catch {
            throw ReplayError(.change, error.message, change: first.location)
        }
        let sql = StatementText.copy(table: table.quotedName, columns: shape.dataIndices.map { SQLIdentifier.quote(key.dataNames[$0]) })
        do throws(PostgresError) {
            try connection.beginCopy(sql)
            // The session's buffer, taken for the loop: appending to a
            // local variable needs no run-time exclusivity check per value,
            // as a property of the session (a class) does.
            var buffer = copyBuffer
            copyBuffer = []
            defer { copyBuffer = buffer }
            buffer.removeAll(keepingCapacity: true)
            // Usually every column of the row is copied, in its order.
            let everyColumn = shape.dataIndices == Array(0..<(first.data?.count ?? 0))
            for index in indices {
                guard let data = changes[index].data else { continue }
                if everyColumn {
                    var separator = false
                    data.forEachValueBytes { value in
                        if separator { buffer.append(CopyText.columnSeparator) }
                        separator = true
                        CopyText.appendValue(value, to: &buffer)
                    }
                } else {
                    for (position, column) in shape.dataIndices.enumerated() {
                        if position > 0 { buffer.append(CopyText.columnSeparator) }
                        data.withUnsafeValueBytes(at: column) { CopyText.appendValue($0, to: &buffer) }
                    }
                }
                buffer.append(CopyText.rowEnd)
                if buffer.count >= settings.copyPieceBytes {
                    try sendCopyData(&buffer)
                }
            }
            try sendCopyData(&buffer)
            try connection.sendCopyEnd()
            copyInFlight = CopyInFlight(statement: sql, changes: changes, indices: indices)
        } catch {
            throw Self.copyFailure(error, changes: changes, indices: indices)
        }
    }
}
