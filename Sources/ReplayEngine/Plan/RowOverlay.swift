import PendingDecoder

extension PendingRow {
    /// This row with a later update's new row laid over it: every column of
    /// both, with `newer`'s value where it has one. An update carries only
    /// the key and the columns it changed (docs/FORMAT.md), so folding it
    /// into an earlier insert or update of the same row must keep the
    /// columns it does not carry. Runs of updates of the same columns (the
    /// common case) take `newer` as it is, without building a row.
    func overlaid(with newer: PendingRow) -> PendingRow {
        if newer.hasSameColumnNames(as: self) { return newer }
        var merged = columns
        var positions: [String: Int] = [:]
        for (index, column) in merged.enumerated() { positions[column.name] = index }
        for column in newer {
            if let index = positions[column.name] {
                merged[index] = column
            } else {
                merged.append(column)
            }
        }
        return PendingRow(merged)
    }
}
