import LibPQ
import PendingDecoder

/// What decides a prepared statement: the table, the kind of statement and
/// the columns of the change's rows (names, in the rows' order).
struct StatementKey: Hashable {
    enum Kind: Hashable {
        case insert
        case update
        case delete
        /// An update done as delete + insert (identity ALWAYS columns change).
        case replace
        /// Set-based forms: many rows per execution, one text array per column.
        case insertSet
        case updateSet
        case deleteSet
    }

    var table: String
    var kind: Kind
    var dataNames: [String]
    var keyNames: [String]
    /// Data-row positions left out of an UPDATE's SET list (identity ALWAYS
    /// key columns whose value does not change).
    var skipped: [Int] = []
}

/// A statement prepared on one slave connection, and where its parameters come from.
struct PreparedStatement {
    var name: String
    var sql: String
    /// Data-row positions bound to $1, $2, … in order.
    var dataIndices: [Int]
    /// Key-row positions bound after the data ones.
    var keyIndices: [Int]
    /// UPDATE and DELETE must touch exactly one row.
    var expectsOneRow: Bool
    /// A set-based statement: binds arrays, and (update, delete) returns the
    /// 1-based position of every row it touched.
    var isSet = false

    /// Fills `parameters` with one text array per column, holding the values
    /// of `changes[indices]` in order (set-based statements).
    func bindSet(_ changes: [Change], _ indices: [Int], into parameters: inout ParameterBuffer) {
        for column in dataIndices {
            parameters.append { buffer in
                ArrayLiteral.write(to: &buffer) { append in
                    for index in indices { changes[index].data?.withUnsafeValueBytes(at: column) { append($0) } }
                }
            }
        }
        for column in keyIndices {
            parameters.append { buffer in
                ArrayLiteral.write(to: &buffer) { append in
                    for index in indices { changes[index].key?.withUnsafeValueBytes(at: column) { append($0) } }
                }
            }
        }
    }

    /// Fills `parameters` with `change`'s values in this statement's order.
    func bind(_ change: Change, into parameters: inout ParameterBuffer) {
        if let data = change.data {
            for index in dataIndices {
                data.withUnsafeValueBytes(at: index) { parameters.append(bytes: $0) }
            }
        }
        if let key = change.key {
            for index in keyIndices {
                key.withUnsafeValueBytes(at: index) { parameters.append(bytes: $0) }
            }
        }
    }
}

/// Makes the statement for a key from the slave's table, checking that
/// every column the change names exists there.
enum StatementBuilder {
    /// Why a change's columns do not fit the slave's table.
    struct Mismatch: Error {
        var message: String
    }

    static func build(_ key: StatementKey, table: SlaveTable, name: String) throws(Mismatch) -> PreparedStatement {
        // Data columns the statement writes: all but the slave's generated ones
        // and the skipped ones.
        var written: [(index: Int, column: SlaveTable.Column)] = []
        for (index, columnName) in key.dataNames.enumerated() where !key.skipped.contains(index) {
            guard let column = table.columns[columnName] else {
                throw Mismatch(message: "column \(SQLIdentifier.quote(columnName)) does not exist in \(table.quotedName) on the slave")
            }
            if !column.generated { written.append((index, column)) }
        }
        // A set-based update only ever carries updates that keep their key
        // (NetEffect plans the others change by change): setting the key
        // columns to the values they are matched by would only cost a cast
        // and an array element per row.
        if key.kind == .updateSet {
            let nonKey = written.filter { !key.keyNames.contains($0.column.name) }
            if !nonKey.isEmpty { written = nonKey }
        }
        var keyIndices: [Int] = []
        var keyColumns: [String] = []
        for (index, columnName) in key.keyNames.enumerated() {
            guard table.columns[columnName] != nil else {
                throw Mismatch(message: "key column \(SQLIdentifier.quote(columnName)) does not exist in \(table.quotedName) on the slave")
            }
            keyIndices.append(index)
            keyColumns.append(SQLIdentifier.quote(columnName))
        }
        let columnNames = written.map { SQLIdentifier.quote($0.column.name) }
        let typed = written.map { (SQLIdentifier.quote($0.column.name), $0.column.type) }
        let typedKey = key.keyNames.map { (SQLIdentifier.quote($0), table.columns[$0]?.type ?? "text") }
        let overriding = written.contains { $0.column.identityAlways }
        if key.kind == .update || key.kind == .updateSet, written.isEmpty {
            // Nothing to set (only an unchanged identity key, or generated
            // columns): the row must still exist.
            guard key.kind == .update else {
                throw Mismatch(message: "an update that sets no column cannot be applied as a set")
            }
            return PreparedStatement(
                name: name, sql: "SELECT 1 FROM \(table.quotedName) WHERE " + keyColumns.enumerated().map { "\($1) = $\($0 + 1)" }.joined(separator: " AND "),
                dataIndices: [], keyIndices: keyIndices, expectsOneRow: true)
        }
        let sql: String
        switch key.kind {
        case .insert:
            sql = StatementText.insert(table: table.quotedName, columns: columnNames, overridingSystemValue: overriding)
        case .insertSet:
            sql = StatementText.insertSet(table: table.quotedName, columns: typed, overridingSystemValue: overriding)
        case .updateSet:
            sql = StatementText.updateSet(table: table.quotedName, set: typed, key: typedKey)
        case .deleteSet:
            sql = StatementText.deleteSet(table: table.quotedName, key: typedKey)
        case .update:
            sql = StatementText.update(table: table.quotedName, set: columnNames, key: keyColumns)
        case .delete:
            sql = StatementText.delete(table: table.quotedName, key: keyColumns)
        case .replace:
            let given = Set(written.map(\.column.name))
            let kept = table.columns.values.filter { !$0.generated && !given.contains($0.name) }
                .map { SQLIdentifier.quote($0.name) }.sorted()
            sql = StatementText.replace(table: table.quotedName, columns: typed, kept: kept, key: keyColumns)
        }
        let deletes = key.kind == .delete || key.kind == .deleteSet
        let inserts = key.kind == .insert || key.kind == .insertSet
        let isSet = key.kind == .insertSet || key.kind == .updateSet || key.kind == .deleteSet
        return PreparedStatement(
            name: name, sql: sql,
            dataIndices: deletes ? [] : written.map(\.index),
            keyIndices: inserts ? [] : keyIndices,
            expectsOneRow: !inserts && !isSet,
            isSet: isSet)
    }

    /// The key of the set-based statement for changes shaped like `change`.
    static func setKey(for change: Change, table: SlaveTable) -> StatementKey {
        var key = self.key(for: change, table: table)
        switch key.kind {
        case .insert: key.kind = .insertSet
        case .update: key.kind = .updateSet
        case .delete: key.kind = .deleteSet
        case .replace, .insertSet, .updateSet, .deleteSet: break
        }
        return key
    }

    /// The key of `change`'s statement, deciding per row whether an update
    /// must skip an unchanged identity ALWAYS key column or be a replace.
    static func key(for change: Change, table: SlaveTable) -> StatementKey {
        let dataNames = change.data.map(names) ?? []
        let keyNames = change.key.map(names) ?? []
        switch change.operation {
        case .insert:
            return StatementKey(table: change.table, kind: .insert, dataNames: dataNames, keyNames: [])
        case .delete, .truncate:
            return StatementKey(table: change.table, kind: .delete, dataNames: [], keyNames: keyNames)
        case .update:
            var key = StatementKey(table: change.table, kind: .update, dataNames: dataNames, keyNames: keyNames)
            guard table.hasIdentityAlways, let data = change.data, let old = change.key else { return key }
            for (index, name) in dataNames.enumerated() where table.columns[name]?.identityAlways == true {
                if let keyIndex = keyNames.firstIndex(of: name), data.hasSameValue(at: index, as: old, at: keyIndex) {
                    key.skipped.append(index)
                } else {
                    key.kind = .replace
                    key.skipped = []
                    return key
                }
            }
            return key
        }
    }

    static func names(_ row: PendingRow) -> [String] {
        (0..<row.count).map { row.name(at: $0) }
    }
}
