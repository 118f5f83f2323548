import LibPQ

/// A table on the slave as the replayer needs it: read once per connection
/// from the slave's catalog, so columns map by name whatever their order.
struct SlaveTable {
    struct Column {
        var name: String
        /// The column's type as a quoted name without type modifier
        /// (`"pg_catalog"."varchar"`), for casts that leave length and
        /// precision checks to the assignment, as a plain INSERT does.
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
    /// A unique index or exclusion constraint other than the primary key.
    var hasOtherUniqueness: Bool = false
    /// A trigger that fires in replica mode (ENABLE ALWAYS or ENABLE REPLICA) or a rule.
    var firesInReplicaMode: Bool = false
    var isForeign: Bool = false

    var hasIdentityAlways: Bool { columns.values.contains { $0.identityAlways } }

    /// Whether this table's changes may be reordered and folded (see `TableTraits`).
    var traits: TableTraits {
        let identityOutsideKey = columns.values.contains { $0.identityAlways && !primaryKey.contains($0.name) }
        return TableTraits(
            reorderable: !primaryKey.isEmpty && !hasOtherUniqueness && !firesInReplicaMode && !isForeign && !identityOutsideKey,
            primaryKey: primaryKey)
    }
}

/// Reads and caches `SlaveTable`s on one slave connection.
struct SlaveCatalog {
    private var tables: [String: SlaveTable] = [:]

    /// True when `masterName` was read already (no catalog query needed).
    func knows(_ masterName: String) -> Bool { tables[masterName] != nil }

    /// The slave's table for the master's table name `masterName`, or nil
    /// when the slave has no such table.
    mutating func table(_ masterName: String, on connection: Connection) throws(PostgresError) -> SlaveTable? {
        if let table = tables[masterName] { return table }
        let relation = try connection.execute("""
            SELECT c.oid::text, n.nspname, c.relname, c.relkind::text,
                   EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND NOT i.indisprimary
                           AND (i.indisunique OR i.indisexclusion)),
                   c.relhasrules OR EXISTS (SELECT FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal
                                            AND g.tgenabled IN ('A', 'R'))
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'f')
            """, [masterName])
        guard relation.rowCount == 1, let oid = relation.string(row: 0, column: 0),
              let schema = relation.string(row: 0, column: 1), let name = relation.string(row: 0, column: 2)
        else { return nil }
        let kind = relation.string(row: 0, column: 3)
        let columns = try connection.execute("""
            SELECT a.attname, tn.nspname, t.typname, a.attidentity = 'a', a.attgenerated <> '',
                   coalesce(a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1]), false)
            FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid
            JOIN pg_namespace tn ON tn.oid = t.typnamespace
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """, [oid])
        var table = SlaveTable(masterName: masterName, quotedName: SQLIdentifier.quote(schema: schema, name: name),
                               partitioned: kind == "p", columns: [:], primaryKey: [],
                               hasOtherUniqueness: relation.string(row: 0, column: 4) == "t",
                               firesInReplicaMode: relation.string(row: 0, column: 5) == "t",
                               isForeign: kind == "f")
        for row in 0..<columns.rowCount {
            let name = columns.string(row: row, column: 0) ?? ""
            table.columns[name] = SlaveTable.Column(
                name: name,
                type: SQLIdentifier.quote(schema: columns.string(row: row, column: 1) ?? "pg_catalog",
                                          name: columns.string(row: row, column: 2) ?? "text"),
                identityAlways: columns.string(row: row, column: 3) == "t",
                generated: columns.string(row: row, column: 4) == "t")
            if columns.string(row: row, column: 5) == "t" {
                table.primaryKey.append(name)
            }
        }
        tables[masterName] = table
        return table
    }
}
