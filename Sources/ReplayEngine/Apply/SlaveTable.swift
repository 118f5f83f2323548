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
    /// Names looked up and not found (a table created later is found on the
    /// next connection, which a failed host gets anyway).
    private var missing: Set<String> = []

    /// True when `masterName` was looked up already (no catalog query needed).
    func knows(_ masterName: String) -> Bool { tables[masterName] != nil || missing.contains(masterName) }

    /// The table read earlier for `masterName`; nil if it does not exist or was not read.
    func cached(_ masterName: String) -> SlaveTable? { tables[masterName] }

    static let relationsQuery = """
        SELECT w.name, n.nspname, c.relname, c.relkind::text,
               EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND NOT i.indisprimary
                       AND (i.indisunique OR i.indisexclusion)),
               c.relhasrules OR EXISTS (SELECT FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal
                                        AND g.tgenabled IN ('A', 'R'))
        FROM unnest($1::text[]) AS w(name)
        JOIN pg_class c ON c.oid = to_regclass(w.name) AND c.relkind IN ('r', 'p', 'f')
        JOIN pg_namespace n ON n.oid = c.relnamespace
        """

    static let columnsQuery = """
        SELECT w.name, a.attname, tn.nspname, t.typname, a.attidentity = 'a', a.attgenerated <> '',
               coalesce(a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1]), false)
        FROM unnest($1::text[]) AS w(name)
        JOIN pg_attribute a ON a.attrelid = to_regclass(w.name)
        JOIN pg_type t ON t.oid = a.atttypid
        JOIN pg_namespace tn ON tn.oid = t.typnamespace
        LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
        WHERE a.attnum > 0 AND NOT a.attisdropped
        ORDER BY w.name, a.attnum
        """

    /// Reads every table of `masterNames` not read yet, all in one round trip.
    mutating func load(_ masterNames: [String], on connection: Connection) throws(PostgresError) {
        var wanted: [String] = []
        for name in masterNames where !knows(name) && !wanted.contains(name) { wanted.append(name) }
        guard !wanted.isEmpty else { return }
        let list = ArrayLiteral.text(wanted)
        let results = try connection.executePipeline([(Self.relationsQuery, [list]), (Self.columnsQuery, [list])])
        let relations = try results[0].get()
        let columns = try results[1].get()
        var found: [String: SlaveTable] = [:]
        for row in 0..<relations.rowCount {
            guard let masterName = relations.string(row: row, column: 0),
                  let schema = relations.string(row: row, column: 1), let name = relations.string(row: row, column: 2)
            else { continue }
            let kind = relations.string(row: row, column: 3)
            found[masterName] = SlaveTable(
                masterName: masterName, quotedName: SQLIdentifier.quote(schema: schema, name: name),
                partitioned: kind == "p", columns: [:], primaryKey: [],
                hasOtherUniqueness: relations.string(row: row, column: 4) == "t",
                firesInReplicaMode: relations.string(row: row, column: 5) == "t",
                isForeign: kind == "f")
        }
        for row in 0..<columns.rowCount {
            guard let masterName = columns.string(row: row, column: 0), found[masterName] != nil,
                  let name = columns.string(row: row, column: 1) else { continue }
            found[masterName]?.columns[name] = SlaveTable.Column(
                name: name,
                type: SQLIdentifier.quote(schema: columns.string(row: row, column: 2) ?? "pg_catalog",
                                          name: columns.string(row: row, column: 3) ?? "text"),
                identityAlways: columns.string(row: row, column: 4) == "t",
                generated: columns.string(row: row, column: 5) == "t")
            if columns.string(row: row, column: 6) == "t" {
                found[masterName]?.primaryKey.append(name)
            }
        }
        for name in wanted {
            if let table = found[name] { tables[name] = table } else { missing.insert(name) }
        }
    }

    /// The slave's table for the master's table name `masterName`, or nil
    /// when the slave has no such table.
    mutating func table(_ masterName: String, on connection: Connection) throws(PostgresError) -> SlaveTable? {
        try load([masterName], on: connection)
        return tables[masterName]
    }
}
