import LibPQ

/// A table on the slave as the replayer needs it: read once per connection
/// from the slave's catalog, so columns map by name whatever their order.
struct SlaveTable {
    struct Column {
        var name: String
        /// `format_type` of the column, for explicit casts.
        var type: String
        /// An identity column GENERATED ALWAYS: written with OVERRIDING SYSTEM VALUE.
        var identityAlways: Bool
        /// A generated column: left to the slave to compute.
        var generated: Bool
    }

    /// The name as the master's queue spells it.
    var masterName: String
    /// Schema and name as the slave has them, quoted for SQL.
    var quotedName: String
    var partitioned: Bool
    var columns: [String: Column]
    var primaryKey: [String]

    var hasIdentityAlways: Bool { columns.values.contains { $0.identityAlways } }
}

/// Reads and caches `SlaveTable`s on one slave connection.
struct SlaveCatalog {
    private var tables: [String: SlaveTable] = [:]

    /// The slave's table for the master's table name `masterName`, or nil
    /// when the slave has no such table.
    mutating func table(_ masterName: String, on connection: Connection) throws(PostgresError) -> SlaveTable? {
        if let table = tables[masterName] { return table }
        let relation = try connection.execute("""
            SELECT c.oid::text, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'f')
            """, [masterName])
        guard relation.rowCount == 1, let oid = relation.string(row: 0, column: 0),
              let quotedName = relation.string(row: 0, column: 1)
        else { return nil }
        let columns = try connection.execute("""
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attidentity = 'a', a.attgenerated <> '',
                   coalesce(a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1]), false)
            FROM pg_attribute a
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """, [oid])
        var table = SlaveTable(masterName: masterName, quotedName: quotedName,
                               partitioned: relation.string(row: 0, column: 2) == "p",
                               columns: [:], primaryKey: [])
        for row in 0..<columns.rowCount {
            let name = columns.string(row: row, column: 0) ?? ""
            table.columns[name] = SlaveTable.Column(
                name: name,
                type: columns.string(row: row, column: 1) ?? "text",
                identityAlways: columns.string(row: row, column: 2) == "t",
                generated: columns.string(row: row, column: 3) == "t")
            if columns.string(row: row, column: 4) == "t" {
                table.primaryKey.append(name)
            }
        }
        tables[masterName] = table
        return table
    }
}
