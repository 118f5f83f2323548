import LibPQ

/// Applying a chunk of changes inside the open slave transaction: prepared
/// statements in pipeline mode, COPY for long runs of inserts, every failure
/// mapped back to the exact change.
extension SlaveSession {
    /// A statement sent in the pipeline whose result is still to be read.
    private struct InFlight {
        enum Check {
            /// Nothing to check beyond success (inserts, truncates, prepares).
            case none
            /// UPDATE/DELETE of one change: exactly one row.
            case oneRow
            /// Set-based INSERT: one row per change.
            case allRows
            /// Set-based UPDATE/DELETE: RETURNING each change's position once.
            case positions
        }

        /// The plan's changes the statement carries; the first names a failure.
        var indices: [Int]
        var check: Check
    }

    /// Applies `changes` (in "SeqId" order) in the open transaction.
    ///
    /// - Parameter precise: keep the master's order and one statement per
    ///   change (COPY for runs of inserts), so a failure names exactly the
    ///   first change that fails. Otherwise, in replica mode, changes are
    ///   grouped by table and folded to set-based statements (see
    ///   `ApplyPlanner.netEffect`); a failure a set-based statement cannot
    ///   pin on one change is thrown with `retryPrecisely`.
    /// - Parameter master: a connection whose input is read while waiting
    ///   for the slave (the master, fetching the next chunk meanwhile).
    func apply(_ changes: [Change], precise: Bool = false, servicing master: Connection? = nil) throws(ReplayError) {
        let tables = try resolveTables(changes)
        let plan: ApplyPlan
        if !precise && replicaRole && settings.setBased {
            plan = ApplyPlanner.netEffect(changes, traits: tables.mapValues(\.traits), copyThreshold: settings.copyThreshold)
        } else {
            plan = ApplyPlanner.sequential(changes, copyThreshold: settings.copyThreshold)
        }
        let planned = plan.changes
        var inFlight: [InFlight] = []
        inFlight.reserveCapacity(settings.statementsPerSync + 1)
        var rowsInFlight = 0
        for step in plan.steps {
            switch step {
            case .statement(let index):
                try enterPipeline()
                try send(planned[index], at: index, table: tables[planned[index].table], into: &inFlight)
                rowsInFlight += 1
            case .truncate(let indices):
                try enterPipeline()
                let list = indices.compactMap { tables[planned[$0].table] }.map { ($0.quotedName, $0.partitioned) }
                do throws(PostgresError) {
                    try connection.sendQuery(StatementText.truncate(tables: list))
                } catch {
                    throw ReplayError(change: planned[indices[0]].location, slave: error)
                }
                inFlight.append(InFlight(indices: [indices[0]], check: .none))
                rowsInFlight += 1
            case .copy(let indices):
                try drain(&inFlight, planned, master)
                rowsInFlight = 0
                try leavePipeline()
                if let table = tables[planned[indices[0]].table] {
                    master?.readAvailableInput()
                    try copy(planned, indices, into: table)
                }
            case .insertSet(let indices), .updateSet(let indices), .deleteSet(let indices):
                try enterPipeline()
                try sendSet(planned, indices, table: tables[planned[indices[0]].table], into: &inFlight)
                rowsInFlight += indices.count
            }
            if inFlight.count >= settings.statementsPerSync || rowsInFlight >= settings.rowsPerSync {
                try drain(&inFlight, planned, master)
                rowsInFlight = 0
            }
        }
        try drain(&inFlight, planned, master)
        try leavePipeline()
    }

    /// The slave's table for every table the chunk names; a missing one is
    /// the failure of the first change that names it.
    private func resolveTables(_ changes: [Change]) throws(ReplayError) -> [String: SlaveTable] {
        var tables: [String: SlaveTable] = [:]
        for change in changes where tables[change.table] == nil {
            let found: SlaveTable?
            do throws(PostgresError) {
                found = try catalog.table(change.table, on: connection)
            } catch {
                throw ReplayError(change: change.location, slave: error)
            }
            guard let found else {
                throw ReplayError(.change, "table \(change.table) does not exist on the slave", change: change.location)
            }
            tables[change.table] = found
        }
        return tables
    }

    private func enterPipeline() throws(ReplayError) {
        guard !connection.isInPipelineMode else { return }
        do throws(PostgresError) {
            try connection.enterPipelineMode()
        } catch {
            throw ReplayError(slave: error)
        }
    }

    private func leavePipeline() throws(ReplayError) {
        guard connection.isInPipelineMode else { return }
        do throws(PostgresError) {
            try connection.exitPipelineMode()
        } catch {
            throw ReplayError(slave: error)
        }
    }

    /// Queues `change` as its prepared statement, preparing it first if new.
    private func send(_ change: Change, at index: Int, table: SlaveTable?, into inFlight: inout [InFlight]) throws(ReplayError) {
        guard let table else { return }
        let key = StatementBuilder.key(for: change, table: table)
        var statement: PreparedStatement
        let isNew: Bool
        if let known = statements[key] {
            statement = known
            isNew = false
        } else {
            do throws(StatementBuilder.Mismatch) {
                statement = try StatementBuilder.build(key, table: table, name: "dbmirror_\(statements.count + 1)")
            } catch {
                throw ReplayError(.change, error.message, change: change.location)
            }
            isNew = true
        }
        do throws(PostgresError) {
            if isNew {
                try connection.sendPrepare(name: statement.name, sql: statement.sql)
                inFlight.append(InFlight(indices: [index], check: .none))
                statements[key] = statement
            }
            parameters.removeAll()
            statement.bind(change, into: &parameters)
            try connection.sendQueryPrepared(name: statement.name, parameters: parameters)
            inFlight.append(InFlight(indices: [index], check: statement.expectsOneRow ? .oneRow : .none))
        } catch {
            throw ReplayError(change: change.location, slave: error)
        }
    }

    /// Queues one set-based statement for `changes[indices]` (one table,
    /// one operation and column set, distinct rows).
    private func sendSet(_ changes: [Change], _ indices: [Int], table: SlaveTable?,
                         into inFlight: inout [InFlight]) throws(ReplayError) {
        guard let table else { return }
        let first = changes[indices[0]]
        let key = StatementBuilder.setKey(for: first, table: table)
        var statement: PreparedStatement
        let isNew: Bool
        if let known = statements[key] {
            statement = known
            isNew = false
        } else {
            do throws(StatementBuilder.Mismatch) {
                statement = try StatementBuilder.build(key, table: table, name: "dbmirror_\(statements.count + 1)")
            } catch {
                // Not expressible as a set (an update that sets nothing):
                // one statement per change, which reports a mismatch exactly.
                for index in indices {
                    try send(changes[index], at: index, table: table, into: &inFlight)
                }
                return
            }
            isNew = true
        }
        do throws(PostgresError) {
            if isNew {
                try connection.sendPrepare(name: statement.name, sql: statement.sql)
                inFlight.append(InFlight(indices: [indices[0]], check: .none))
                statements[key] = statement
            }
            parameters.removeAll()
            statement.bindSet(changes, indices, into: &parameters, scratch: &arrayScratch)
            try connection.sendQueryPrepared(name: statement.name, parameters: parameters)
            inFlight.append(InFlight(indices: indices, check: key.kind == .insertSet ? .allRows : .positions))
        } catch {
            throw ReplayError(change: first.location, slave: error)
        }
    }

    /// Syncs the pipeline and checks every queued statement's result.
    private func drain(_ inFlight: inout [InFlight], _ changes: [Change], _ master: Connection?) throws(ReplayError) {
        guard !inFlight.isEmpty else { return }
        var failure: ReplayError?
        do throws(PostgresError) {
            try connection.pipelineSync()
            for item in inFlight {
                try connection.waitForResult(servicing: master)
                switch try connection.nextPipelineResult() {
                case .success(let result):
                    if failure == nil {
                        failure = check(result, of: item, changes)
                    }
                case .failure(let error):
                    if failure == nil {
                        failure = ReplayError(change: changes[item.indices[0]].location, slave: error)
                        // A set-based statement failed on one of its rows, we cannot tell which.
                        failure?.retryPrecisely = item.indices.count > 1
                    }
                case .aborted:
                    break
                case .sync:
                    throw PostgresError(kind: .unexpectedResult, message: "pipeline sync arrived before every statement's result")
                }
            }
            guard case .sync = try connection.nextPipelineResult() else {
                throw PostgresError(kind: .unexpectedResult, message: "more pipeline results than statements sent")
            }
        } catch {
            throw failure ?? ReplayError(slave: error)
        }
        inFlight.removeAll(keepingCapacity: true)
        if let failure { throw failure }
    }

    /// The failure a successful result still reveals: a row not found, or
    /// a key that matched several rows.
    private func check(_ result: QueryResult, of item: InFlight, _ changes: [Change]) -> ReplayError? {
        func notOne(_ index: Int, _ rows: Int) -> ReplayError {
            ReplayError(.change, rows == 0 ? "row not found on the slave" : "\(rows) rows matched the key on the slave, not one",
                        change: changes[index].location)
        }
        switch item.check {
        case .none:
            return nil
        case .oneRow:
            if let rows = result.affectedRows, rows != 1 { return notOne(item.indices[0], rows) }
            return nil
        case .allRows:
            guard let rows = result.affectedRows, rows != item.indices.count else { return nil }
            var error = ReplayError(.change, "a set-based insert stored \(rows) of \(item.indices.count) rows",
                                    change: changes[item.indices[0]].location)
            error.retryPrecisely = true
            return error
        case .positions:
            var hits = [Int](repeating: 0, count: item.indices.count)
            for row in 0..<result.rowCount {
                guard let position = result.string(row: row, column: 0).flatMap({ Int($0) }),
                      position >= 1, position <= hits.count else { continue }
                hits[position - 1] += 1
            }
            if let position = hits.firstIndex(where: { $0 != 1 }) {
                return notOne(item.indices[position], hits[position])
            }
            return nil
        }
    }

    /// Sends and empties `copyBuffer`.
    private func sendCopyBuffer() throws(PostgresError) {
        let sent = copyBuffer.withUnsafeBytes { bytes in
            Result { () throws(PostgresError) in try connection.putCopyData(bytes) }
        }
        copyBuffer.removeAll(keepingCapacity: true)
        try sent.get()
    }

    /// Sends `changes[indices]` (inserts into one table, one column set) by COPY.
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
            copyBuffer.removeAll(keepingCapacity: true)
            for index in indices {
                guard let data = changes[index].data else { continue }
                for (position, column) in shape.dataIndices.enumerated() {
                    if position > 0 { copyBuffer.append(CopyText.columnSeparator) }
                    data.withUnsafeValueBytes(at: column) { CopyText.appendValue($0, to: &copyBuffer) }
                }
                copyBuffer.append(CopyText.rowEnd)
                if copyBuffer.count >= settings.copyPieceBytes {
                    try sendCopyBuffer()
                }
            }
            try sendCopyBuffer()
            let result = try connection.endCopy(statement: sql)
            if let rows = result.affectedRows, rows != indices.count {
                throw PostgresError(kind: .unexpectedResult, message: "COPY stored \(rows) rows of \(indices.count)")
            }
        } catch {
            // The server names the failing data line in the error's context.
            let line = CopyText.lineNumber(inContext: error.context) ?? 1
            let index = indices[min(max(line, 1), indices.count) - 1]
            throw ReplayError(change: changes[index].location, slave: error)
        }
    }
}
