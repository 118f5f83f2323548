import PendingDecoder

/// What the planner needs to know of a slave table to reorder and fold its changes.
public struct TableTraits: Sendable, Equatable {
    /// Changes to different rows of this table commute: its primary key is
    /// its only unique or exclusion constraint, no trigger fires in replica
    /// mode, and no identity ALWAYS column outside the key needs an update
    /// done as delete + insert.
    public var reorderable: Bool
    /// The primary key's column names (the slave's), to find an inserted row's key.
    public var primaryKey: [String]

    public init(reorderable: Bool, primaryKey: [String]) {
        self.reorderable = reorderable
        self.primaryKey = primaryKey
    }
}

extension ApplyPlanner {
    /// The fast plan: what the slave ends up with is what `sequential` gives,
    /// in fewer statements.
    ///
    /// Only valid when the slave session runs in replica mode (foreign keys
    /// and ordinary triggers quiet), so that changes to different tables
    /// commute: within each stretch between truncates, the changes are
    /// grouped by table (each table's own changes keep their order). For a
    /// table whose `TableTraits` say changes to different rows commute, and
    /// whose updates in the stretch keep their keys, the changes are folded
    /// to their net effect per row (insert + updates = one insert, updates =
    /// one update, update + delete = delete, insert + delete = nothing) and
    /// applied in waves of distinct rows, each wave as set-based statements;
    /// other tables keep the sequential steps. The folded change keeps the
    /// first change's XID, SeqId and old key (where a failure would first
    /// show) and the new row the changes leave: an update carries only the
    /// columns it changed, laid over the row folded so far.
    public static func netEffect(
        _ changes: [Change], traits: [String: TableTraits], copyThreshold: Int, setThreshold: Int = 2
    ) -> ApplyPlan {
        var planned: [Change] = []
        planned.reserveCapacity(changes.count)
        var steps: [ApplyStep] = []
        var start = changes.startIndex
        while start < changes.endIndex {
            if changes[start].operation == .truncate {
                // Truncates stay where they are, grouped as in the sequential plan.
                var end = start + 1
                while end < changes.endIndex, changes[end].operation == .truncate, changes[end].xid == changes[start].xid {
                    end += 1
                }
                steps.append(.truncate(Array(planned.count..<(planned.count + end - start))))
                planned.append(contentsOf: changes[start..<end])
                start = end
                continue
            }
            var end = start
            while end < changes.endIndex, changes[end].operation != .truncate { end += 1 }
            planStretch(changes[start..<end], traits: traits, copyThreshold: copyThreshold,
                        setThreshold: setThreshold, into: &planned, steps: &steps)
            start = end
        }
        return ApplyPlan(changes: planned, steps: steps)
    }

    /// Plans a stretch without truncates, table by table (the tables' steps
    /// may come in another order than the tables' first changes).
    private static func planStretch(
        _ stretch: ArraySlice<Change>, traits: [String: TableTraits], copyThreshold: Int, setThreshold: Int,
        into planned: inout [Change], steps: inout [ApplyStep]
    ) {
        // Changes come in runs of one table: the dictionary is asked only
        // where a run starts.
        var tables: [String] = []
        var groups: [[Int]] = []
        var positions: [String: Int] = [:]
        var current = -1
        for index in stretch.indices {
            let table = stretch[index].table
            if current < 0 || tables[current] != table {
                if let known = positions[table] {
                    current = known
                } else {
                    current = tables.count
                    positions[table] = current
                    tables.append(table)
                    groups.append([])
                }
            }
            groups[current].append(index)
        }
        // Tables commute here, so those with a COPY go first: a COPY leaves
        // the pipeline, which waits for every statement sent before it,
        // while statements sent after it keep the slave busy as the
        // replayer reads and plans the next chunk.
        var withCopy: [ApplyStep] = []
        var others: [ApplyStep] = []
        for (table, indices) in zip(tables, groups) {
            var tableSteps: [ApplyStep] = []
            if let trait = traits[table], trait.reorderable,
               var folded = fold(stretch, indices, primaryKey: trait.primaryKey) {
                emitWaves(&folded, setThreshold: setThreshold, copyThreshold: copyThreshold,
                          into: &planned, steps: &tableSteps)
            } else {
                let base = planned.count
                for index in indices { planned.append(stretch[index]) }
                tableSteps = Self.steps(for: planned, indices: Array(base..<planned.count), copyThreshold: copyThreshold)
            }
            if tableSteps.contains(where: \.isCopy) {
                withCopy += tableSteps
            } else {
                others += tableSteps
            }
        }
        steps += withCopy + others
    }

    /// One row's net change after folding, and its wave.
    private struct Folded {
        var change: Change
        var wave: Int
    }

    /// Folds one table's changes to their net effect per primary key, in
    /// order (nil entries were folded away); nil when that is not possible
    /// (a key changes, or a key cannot be read). Changes are read in place
    /// and copied once, into their entry: a copy costs three reference counts.
    private static func fold(_ stretch: ArraySlice<Change>, _ indices: [Int], primaryKey: [String]) -> [Folded?]? {
        guard !primaryKey.isEmpty else { return nil }
        if indices.allSatisfy({ stretch[$0].operation == .insert }) {
            // Inserts alone need no folding and no key hashing: on the master
            // a key can be inserted twice only with a delete or a key change
            // between, so these rows are distinct and form one wave. (Should
            // the slave still refuse one, the set fails and the batch is
            // replayed change by change, which names it.)
            return indices.map { Folded(change: stretch[$0], wave: 0) }
        }
        // Per row: its latest entry, and how many of its entries are left
        // (the next entry's wave). Only the latest entry of a row is ever
        // merged or dropped, so an entry's wave is the count of that row's
        // entries before it, fixed when it is appended.
        var entries: [Folded?] = []
        entries.reserveCapacity(indices.count)
        var rows: [RowKey: (latest: Int?, count: Int)] = [:]
        rows.reserveCapacity(indices.count)
        var keys = RowKeyReader(primaryKey: primaryKey)
        for index in indices {
            guard let key = keys.key(of: stretch[index]) else { return nil }
            let operation = stretch[index].operation
            if operation == .update, !keys.newRow(of: stretch[index], keeps: key) { return nil }
            let row = rows[key]
            if let at = row?.latest, let previous = entries[at]?.change.operation {
                switch (previous, operation) {
                case (.insert, .update), (.update, .update):
                    // The update may carry only the columns it changed.
                    let later = stretch[index].data
                    let earlier = entries[at]?.change.data
                    entries[at]?.change.data = earlier.flatMap { earlier in later.map { earlier.overlaid(with: $0) } } ?? later
                    continue
                case (.update, .delete):
                    entries[at]?.change.operation = .delete
                    entries[at]?.change.data = nil
                    continue
                case (.insert, .delete):
                    entries[at] = nil
                    rows[key] = (nil, (row?.count ?? 1) - 1)
                    continue
                default:
                    // delete then insert, or a sequence that fails on the
                    // master's own terms: keep both, in order (next wave).
                    break
                }
            }
            let wave = row?.count ?? 0
            rows[key] = (entries.count, wave + 1)
            entries.append(Folded(change: stretch[index], wave: wave))
        }
        return entries
    }

    /// Emits folded changes wave by wave; within a wave (distinct rows), one
    /// set-based step per operation and column set. Each change moves from
    /// `folded` to `planned` (leaving nil), not copied.
    private static func emitWaves(
        _ folded: inout [Folded?], setThreshold: Int, copyThreshold: Int,
        into planned: inout [Change], steps: inout [ApplyStep]
    ) {
        let waves = (folded.lazy.compactMap { $0?.wave }.max() ?? -1) + 1
        for wave in 0..<waves {
            var groups: [[Int]] = []
            for index in folded.indices where folded[index]?.wave == wave {
                guard let entry = folded[index].take() else { continue }
                let position = planned.count
                planned.append(entry.change)
                if let group = groups.firstIndex(where: { sameShape(planned[$0[0]], planned[position]) }) {
                    groups[group].append(position)
                } else {
                    groups.append([position])
                }
            }
            for group in groups {
                let operation = planned[group[0]].operation
                if operation == .insert && group.count >= copyThreshold {
                    steps.append(.copy(group))
                } else if group.count >= setThreshold {
                    switch operation {
                    case .insert: steps.append(.insertSet(group))
                    case .update: steps.append(.updateSet(group))
                    case .delete: steps.append(.deleteSet(group))
                    case .truncate: steps.append(.truncate(group))
                    }
                } else {
                    steps.append(contentsOf: group.map { ApplyStep.statement($0) })
                }
            }
        }
    }

    /// Same operation and the same column names in both rows.
    private static func sameShape(_ a: Change, _ b: Change) -> Bool {
        a.operation == b.operation && sameColumns(a.data, b.data) && sameColumns(a.key, b.key)
    }
}
