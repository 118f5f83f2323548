import LibPQ

/// A chunk's "PendingData" rows (`QueueReader.rowsQuery`) in "SeqId" order,
/// as positions in the result: the query leaves them in the order its bitmap
/// scan found them, which is that order unless concurrent commits put a
/// later change on an earlier page, so they are sorted only when needed.
/// A row whose "SeqId" cannot be read sorts last and is never paired.
struct RowsBySeqID {
    private var entries: [(seqID: Int64, row: Int32)]

    init(_ rows: QueryResult) {
        entries = []
        entries.reserveCapacity(rows.rowCount)
        var inOrder = true
        for row in 0..<rows.rowCount {
            let seqID = rows.int64(row: row, column: 0) ?? .max
            if let last = entries.last, last.seqID > seqID { inOrder = false }
            entries.append((seqID, Int32(row)))
        }
        if !inOrder {
            entries.sort { $0.seqID < $1.seqID }
        }
    }

    var count: Int { entries.count }

    /// The "SeqId" of the `index`th row in order.
    func seqID(_ index: Int) -> Int64 { entries[index].seqID }

    /// The position in the result of the `index`th row in order.
    func row(_ index: Int) -> Int { Int(entries[index].row) }
}
