import PendingDecoder

/// The primary-key values of the row a change touches, read in place from
/// its decoded row: hashing and comparing them copies nothing (the net-effect
/// fold keys a dictionary by them, once per change).
struct RowKey: Hashable {
    let row: PendingRow
    /// Positions in `row` of the key's columns, in primary-key order.
    let columns: [Int]

    static func == (a: RowKey, b: RowKey) -> Bool {
        guard a.columns.count == b.columns.count else { return false }
        for (left, right) in zip(a.columns, b.columns) where !a.row.hasSameValue(at: left, as: b.row, at: right) {
            return false
        }
        return true
    }

    func hash(into hasher: inout Hasher) {
        for column in columns {
            row.withUnsafeValueBytes(at: column) { bytes in
                if let bytes {
                    hasher.combine(bytes.count)
                    hasher.combine(bytes: bytes)
                } else {
                    hasher.combine(-1)
                }
            }
        }
    }
}

/// Finds the key columns of rows that mostly share one shape: the positions
/// found for a row are reused for the next row with the same column names.
struct RowKeyReader {
    let primaryKey: [String]
    private var shape: PendingRow?
    private var columns: [Int] = []

    init(primaryKey: [String]) {
        self.primaryKey = primaryKey
    }

    /// The key of the row `change` touches: its old key (update, delete) or
    /// its new row (insert); nil when that row lacks a key column, or an old
    /// key names other columns too (then the key is not ours).
    mutating func key(of change: Change) -> RowKey? {
        guard let row = change.operation == .insert ? change.data : change.key else { return nil }
        if let shape, shape.hasSameColumnNames(as: row) {
            // Same names as the last row: same positions.
        } else {
            var found: [Int] = []
            found.reserveCapacity(primaryKey.count)
            for name in primaryKey {
                guard let index = row.index(ofColumnNamed: name) else { return nil }
                found.append(index)
            }
            shape = row
            columns = found
        }
        if change.operation != .insert && row.count != primaryKey.count { return nil }
        return RowKey(row: row, columns: columns)
    }
}

extension PendingRow {
    /// True when column `index` holds the same value (byte for byte, or
    /// both NULL) as column `otherIndex` of `other`.
    func hasSameValue(at index: Int, as other: PendingRow, at otherIndex: Int) -> Bool {
        withUnsafeValueBytes(at: index) { left in
            other.withUnsafeValueBytes(at: otherIndex) { right in
                switch (left, right) {
                case (nil, nil): true
                case let (l?, r?): l.elementsEqual(r)
                default: false
                }
            }
        }
    }
}
