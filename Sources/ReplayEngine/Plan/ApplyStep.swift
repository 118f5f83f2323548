import PendingDecoder

/// How a stretch of a chunk's changes is sent to the slave. Indices are
/// positions in `ApplyPlan.changes`.
public enum ApplyStep: Sendable, Equatable {
    /// One change, as one prepared statement in the pipeline.
    case statement(Int)
    /// Inserts into one table with one column set: one COPY.
    case copy([Int])
    /// Truncates of one master transaction: one TRUNCATE of all their tables.
    case truncate([Int])
    /// Inserts into one table with one column set: one INSERT … SELECT FROM unnest.
    case insertSet([Int])
    /// Updates of distinct rows of one table, keys unchanged, one column set:
    /// one UPDATE … FROM unnest.
    case updateSet([Int])
    /// Deletes of distinct rows of one table: one DELETE … USING unnest.
    case deleteSet([Int])

    var isCopy: Bool {
        if case .copy = self { true } else { false }
    }
}

/// The changes to apply (possibly folded: see `NetEffect`) and how.
public struct ApplyPlan: Sendable {
    public var changes: [Change]
    public var steps: [ApplyStep]
}

/// Plans a chunk of changes (in "SeqId" order) for the slave.
public enum ApplyPlanner {
    /// The plan that keeps the master's order exactly: one statement per
    /// change, except that runs of at least `copyThreshold` consecutive inserts
    /// into one table with one column set become COPY, and consecutive truncates
    /// of one transaction one TRUNCATE.
    public static func sequential(_ changes: [Change], copyThreshold: Int) -> ApplyPlan {
        ApplyPlan(changes: changes, steps: steps(for: changes, indices: Array(changes.indices), copyThreshold: copyThreshold))
    }

    /// The sequential steps for `changes[indices]`, in that order.
    static func steps(for changes: [Change], indices: [Int], copyThreshold: Int) -> [ApplyStep] {
        var steps: [ApplyStep] = []
        var position = 0
        while position < indices.count {
            let change = changes[indices[position]]
            var end = position + 1
            switch change.operation {
            case .truncate:
                while end < indices.count, changes[indices[end]].operation == .truncate,
                      changes[indices[end]].xid == change.xid {
                    end += 1
                }
                steps.append(.truncate(Array(indices[position..<end])))
            case .insert:
                while end < indices.count, changes[indices[end]].operation == .insert,
                      changes[indices[end]].table == change.table,
                      sameColumns(changes[indices[end]].data, change.data) {
                    end += 1
                }
                if end - position >= copyThreshold {
                    steps.append(.copy(Array(indices[position..<end])))
                } else {
                    steps.append(contentsOf: indices[position..<end].map { ApplyStep.statement($0) })
                }
            case .update, .delete:
                steps.append(.statement(indices[position]))
            }
            position = end
        }
        return steps
    }

    /// True when both rows have the same column names in the same order.
    static func sameColumns(_ a: PendingRow?, _ b: PendingRow?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        return a.hasSameColumnNames(as: b)
    }
}
