import PendingDecoder

/// How one stretch of a chunk of changes is sent to the slave.
public enum ApplyStep: Sendable, Equatable {
    /// One change, as one prepared statement in the pipeline.
    case statement(Int)
    /// Consecutive inserts into one table with the same columns: one COPY.
    case copy(Range<Int>)
    /// Consecutive truncates of one master transaction: one TRUNCATE of all their tables.
    case truncate(Range<Int>)
}

/// Groups a chunk of changes (in "SeqId" order) into apply steps.
///
/// Grouping never reorders: the steps cover the changes in order, so the
/// slave sees them in the master's capture order.
public enum ApplyPlanner {
    /// The steps for `changes`; runs of at least `copyThreshold` inserts
    /// into one table with one column set become COPY steps.
    public static func steps(for changes: [Change], copyThreshold: Int) -> [ApplyStep] {
        var steps: [ApplyStep] = []
        var index = changes.startIndex
        while index < changes.endIndex {
            let change = changes[index]
            var end = index + 1
            switch change.operation {
            case .truncate:
                while end < changes.endIndex, changes[end].operation == .truncate, changes[end].xid == change.xid {
                    end += 1
                }
                steps.append(.truncate(index..<end))
            case .insert:
                while end < changes.endIndex, changes[end].operation == .insert,
                      changes[end].table == change.table,
                      sameColumns(changes[end].data, change.data) {
                    end += 1
                }
                if end - index >= copyThreshold {
                    steps.append(.copy(index..<end))
                } else {
                    steps.append(contentsOf: (index..<end).map { ApplyStep.statement($0) })
                }
            case .update, .delete:
                steps.append(.statement(index))
            }
            index = end
        }
        return steps
    }

    /// True when both rows have the same column names in the same order.
    static func sameColumns(_ a: PendingRow?, _ b: PendingRow?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        guard a.count == b.count else { return false }
        for index in 0..<a.count {
            let equal = a.withUnsafeNameBytes(at: index) { left in
                b.withUnsafeNameBytes(at: index) { right in left.elementsEqual(right) }
            }
            if !equal { return false }
        }
        return true
    }
}
