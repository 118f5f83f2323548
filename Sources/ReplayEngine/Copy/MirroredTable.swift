import LibPQ

/// A table the master's capture trigger records, as the copy and the
/// comparison need it: its names, the columns a copy carries, its key, and
/// how big it is.
struct MirroredTable: Sendable, Hashable {
    /// The master's `pg_class` oid, as text.
    var oid: String
    var schema: String
    var name: String
    /// The name as the capture writes "Pending"."TableName" (quoted only as
    /// needed); the slave resolves the same text to its table.
    var captureName: String
    /// The columns a copy carries and a comparison reads, in the master's
    /// column order: every column but dropped and generated ones.
    var columns: [String]
    /// The primary key's columns in key order; every column when the table has no key.
    var key: [String]
    /// For each column whose values a comparison may hash as they are, the
    /// `pg_catalog` type to hash them as (see `RowChecksum`); the others are
    /// hashed as text.
    var hashTypes: [String: String] = [:]
    /// The planner's row estimate scaled to the table's current size; nil
    /// when the table was never vacuumed or analysed.
    var estimatedRows: Double?

    /// `"schema"."name"`, always quoted.
    var quotedName: String { SQLIdentifier.quote(schema: schema, name: name) }
    var quotedColumns: [String] { columns.map(SQLIdentifier.quote) }
    var quotedKey: [String] { key.map(SQLIdentifier.quote) }
}

/// Finds the master's mirrored tables: those with a row-level trigger that
/// calls the `recordchange()` of the queue's own schema (the schema of the
/// "Pending" this session sees), whatever the trigger is called.
enum MirroredTables {
    static let listQuery = #"""
        WITH capture AS (
            SELECT p.oid FROM pg_catalog.pg_proc p
            WHERE p.proname = 'recordchange' AND p.pronargs = 0
              AND p.pronamespace = (SELECT c.relnamespace FROM pg_catalog.pg_class c
                                    WHERE c.oid = '"Pending"'::regclass)
        )
        SELECT c.oid::text, n.nspname, c.relname,
               quote_ident(n.nspname) || '.' || quote_ident(c.relname),
               CASE WHEN c.reltuples < 0 THEN NULL
                    WHEN c.relpages = 0 THEN c.reltuples::float8
                    ELSE c.reltuples::float8 / c.relpages
                         * (pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::int)
               END
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r'
          AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                      WHERE t.tgrelid = c.oid AND (t.tgtype & 1) = 1
                        AND t.tgfoid IN (SELECT oid FROM capture))
        ORDER BY n.nspname, c.relname
        """#

    /// Each column, and its type (or a domain's base type) when it is one
    /// of `RowChecksum.typedHashTypes`.
    static let columnQuery = """
        SELECT a.attname,
               CASE WHEN b.typnamespace = 'pg_catalog'::regnamespace
                     AND b.typname = ANY ($2::name[]) THEN b.typname::text END
        FROM pg_catalog.pg_attribute a
        JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
        JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
        WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        ORDER BY a.attnum
        """

    static let keyQuery = """
        SELECT a.attname
        FROM pg_catalog.pg_index i
        CROSS JOIN LATERAL unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, position)
        JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = $1::oid AND i.indisprimary
        ORDER BY k.position
        """

    /// Every mirrored table, by schema and name.
    static func list(on master: Connection) throws(ReplayError) -> [MirroredTable] {
        do throws(PostgresError) {
            let result = try master.execute(listQuery)
            var tables: [MirroredTable] = []
            for row in 0..<result.rowCount {
                guard let oid = result.string(row: row, column: 0), let schema = result.string(row: row, column: 1),
                      let name = result.string(row: row, column: 2), let captureName = result.string(row: row, column: 3)
                else { continue }
                let columns = try master.execute(columnQuery, [oid, "{" + RowChecksum.typedHashTypes.joined(separator: ",") + "}"])
                let key = try master.execute(keyQuery, [oid])
                let columnNames = (0..<columns.rowCount).compactMap { columns.string(row: $0, column: 0) }
                var hashTypes: [String: String] = [:]
                for row in 0..<columns.rowCount {
                    if let name = columns.string(row: row, column: 0), let type = columns.string(row: row, column: 1) {
                        hashTypes[name] = type
                    }
                }
                let keyNames = (0..<key.rowCount).compactMap { key.string(row: $0, column: 0) }
                tables.append(MirroredTable(
                    oid: oid, schema: schema, name: name, captureName: captureName,
                    columns: columnNames, key: keyNames.isEmpty ? columnNames : keyNames, hashTypes: hashTypes,
                    estimatedRows: result.string(row: row, column: 4).flatMap(Double.init)))
            }
            return tables
        } catch {
            throw HostRegistry.setupError(error)
        }
    }

    /// The mirrored tables `names` denote (as the master resolves them, so
    /// `items`, `public.items` and `"Odd ""Name"""` all work); every one when
    /// `names` is empty.
    ///
    /// - Throws: `.usage` naming each name that is no table or no mirrored table.
    static func select(_ names: [String], on master: Connection) throws(ReplayError) -> [MirroredTable] {
        let all = try list(on: master)
        guard !names.isEmpty else { return all }
        var chosen: [MirroredTable] = []
        var problems: [String] = []
        for name in names {
            let oid: String?
            do throws(PostgresError) {
                oid = try master.execute("SELECT to_regclass($1)::oid::text", [name]).scalar
            } catch where error.sqlState == "42602" || error.sqlState == "42601" || error.sqlState == "3F000" {
                problems.append("'\(name)' is not a valid table name on the master: \(error.message)")
                continue
            } catch {
                throw ReplayError(master: error)
            }
            guard let oid else {
                problems.append("the master has no table '\(name)'")
                continue
            }
            guard let table = all.first(where: { $0.oid == oid }) else {
                problems.append("table '\(name)' is not mirrored on the master (it has no recordchange() trigger; see dbmirror_add_table)")
                continue
            }
            if !chosen.contains(table) { chosen.append(table) }
        }
        guard problems.isEmpty else { throw ReplayError(.usage, problems.joined(separator: "; ")) }
        return chosen
    }
}
