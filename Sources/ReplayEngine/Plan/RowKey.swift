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
/// found for a row are reused for the next row that has the key's names at
/// the same positions (a check of the key's names only, not a search).
struct RowKeyReader {
    let primaryKey: [String]
    private let keyNames: [[UInt8]]
    /// Where the key was in the last inserted row or old key read.
    private var keyColumns: [Int] = []
    /// Where the key was in the last update's new row.
    private var newRowColumns: [Int] = []

    init(primaryKey: [String]) {
        self.primaryKey = primaryKey
        keyNames = primaryKey.map { Array($0.utf8) }
    }

    /// The key of the row `change` touches: its old key (update, delete) or
    /// its new row (insert); nil when that row lacks a key column, or an old
    /// key names other columns too (then the key is not ours).
    mutating func key(of change: Change) -> RowKey? {
        guard let row = change.operation == .insert ? change.data : change.key else { return nil }
        if change.operation != .insert && row.count != primaryKey.count { return nil }
        guard Self.locate(keyNames, primaryKey, in: row, cached: &keyColumns) else { return nil }
        return RowKey(row: row, columns: keyColumns)
    }

    /// True when an update's new row holds the same key values as `key`,
    /// the key `key(of:)` read from its old key.
    mutating func newRow(of change: Change, keeps key: RowKey) -> Bool {
        guard let data = change.data,
              Self.locate(keyNames, primaryKey, in: data, cached: &newRowColumns)
        else { return false }
        return RowKey(row: data, columns: newRowColumns) == key
    }

    private static func locate(_ names: [[UInt8]], _ primaryKey: [String], in row: PendingRow,
                               cached columns: inout [Int]) -> Bool {
        if columns.count == names.count,
           zip(columns, names).allSatisfy({ row.hasName($1, at: $0) }) {
            return true
        }
        var found: [Int] = []
        found.reserveCapacity(primaryKey.count)
        for name in primaryKey {
            guard let index = row.index(ofColumnNamed: name) else { return false }
            found.append(index)
        }
        columns = found
        return true
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

    /// True when the column at `index` exists and is called `name` (UTF-8).
    func hasName(_ name: [UInt8], at index: Int) -> Bool {
        index < count && withUnsafeNameBytes(at: index) { $0.elementsEqual(name) }
    }
}
