/// Some of a chunk's planned changes, by position: what one statement in
/// the slave's pipeline carries. It shares the chunk's array instead of
/// copying each change (a copy costs three reference counts, and a
/// set-based statement carries thousands), and reads a change only when a
/// failure must name it.
struct ChangeSelection {
    private let changes: [Change]
    /// Positions in `changes`; nil for all of them.
    private let indices: [Int]?

    /// No change (statements that carry none: progress, COMMIT).
    static let none = ChangeSelection([])

    /// All of `changes`, in order.
    init(_ changes: [Change]) {
        self.changes = changes
        indices = nil
    }

    /// `changes[indices]`, in that order.
    init(_ changes: [Change], _ indices: [Int]) {
        self.changes = changes
        self.indices = indices
    }

    var count: Int { indices?.count ?? changes.count }

    var first: Change? { count > 0 ? self[0] : nil }

    /// The change at `position` of the selection.
    subscript(position: Int) -> Change {
        changes[indices?[position] ?? position]
    }
}
