import LibPQ

/// Applying a chunk of changes inside the open slave transaction: prepared
/// statements in pipeline mode, COPY for long runs of inserts, every failure
/// mapped back to the exact change.
extension SlaveSession {
    /// One statement sent in the pipeline whose result is still to be read.
    private struct InFlight {
        var changeIndex: Int
        var expectsOneRow: Bool
    }

    /// Applies `changes` (in order) in the open transaction.
    func apply(_ changes: [Change]) throws(ReplayError) {
        let tables = try resolveTables(changes)
        var inFlight: [InFlight] = []
        inFlight.reserveCapacity(settings.statementsPerSync + 1)
        for step in ApplyPlanner.steps(for: changes, copyThreshold: settings.copyThreshold) {
            switch step {
            case .statement(let index):
                try enterPipeline()
                try send(changes[index], at: index, table: tables[changes[index].table], into: &inFlight)
            case .truncate(let range):
                try enterPipeline()
                let list = range.compactMap { tables[changes[$0].table] }.map { ($0.quotedName, $0.partitioned) }
                do throws(PostgresError) {
                    try connection.sendQuery(StatementText.truncate(tables: list))
                } catch {
                    throw ReplayError(change: changes[range.lowerBound].location, slave: error)
                }
                inFlight.append(InFlight(changeIndex: range.lowerBound, expectsOneRow: false))
            case .copy(let range):
                try drain(&inFlight, changes)
                try leavePipeline()
                if let table = tables[changes[range.lowerBound].table] {
                    try copy(changes, range, into: table)
                }
            }
            if inFlight.count >= settings.statementsPerSync {
                try drain(&inFlight, changes)
            }
        }
        try drain(&inFlight, changes)
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
                inFlight.append(InFlight(changeIndex: index, expectsOneRow: false))
                statements[key] = statement
            }
            parameters.removeAll()
            statement.bind(change, into: &parameters)
            try connection.sendQueryPrepared(name: statement.name, parameters: parameters)
            inFlight.append(InFlight(changeIndex: index, expectsOneRow: statement.expectsOneRow))
        } catch {
            throw ReplayError(change: change.location, slave: error)
        }
    }

    /// Syncs the pipeline and checks every queued statement's result.
    private func drain(_ inFlight: inout [InFlight], _ changes: [Change]) throws(ReplayError) {
        guard !inFlight.isEmpty else { return }
        var failure: ReplayError?
        do throws(PostgresError) {
            try connection.pipelineSync()
            for item in inFlight {
                switch try connection.nextPipelineResult() {
                case .success(let result):
                    if item.expectsOneRow, failure == nil, let rows = result.affectedRows, rows != 1 {
                        failure = ReplayError(.change, rows == 0 ? "row not found on the slave" : "\(rows) rows matched the key on the slave, not one",
                                              change: changes[item.changeIndex].location)
                    }
                case .failure(let error):
                    if failure == nil { failure = ReplayError(change: changes[item.changeIndex].location, slave: error) }
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

    /// Sends and empties `copyBuffer`.
    private func sendCopyBuffer() throws(PostgresError) {
        let sent = copyBuffer.withUnsafeBytes { bytes in
            Result { () throws(PostgresError) in try connection.putCopyData(bytes) }
        }
        copyBuffer.removeAll(keepingCapacity: true)
        try sent.get()
    }

    /// Sends `changes[range]` (inserts into one table, one column set) by COPY.
    private func copy(_ changes: [Change], _ range: Range<Int>, into table: SlaveTable) throws(ReplayError) {
        let first = changes[range.lowerBound]
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
            for index in range {
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
            if let rows = result.affectedRows, rows != range.count {
                throw PostgresError(kind: .unexpectedResult, message: "COPY stored \(rows) rows of \(range.count)")
            }
        } catch {
            // The server names the failing data line in the error's context.
            let line = CopyText.lineNumber(inContext: error.context) ?? 1
            let index = range.lowerBound + min(max(line, 1), range.count) - 1
            throw ReplayError(change: changes[index].location, slave: error)
        }
    }
}
