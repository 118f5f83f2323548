/// The SQL a comparison runs: the same text on the master and the slave
/// but for the table's name.
///
/// A row's hash is `hash_record_extended(ROW(values…), 0)`, the columns
/// named in the master's order (so the slave's column order does not
/// matter), each cast to the master's type so both sides hash the same
/// types. Two rows hash alike exactly when their text forms under the
/// replayer's output settings (`SlaveSession.sessionSettings`, TimeZone
/// UTC) are alike:
///
/// - values of `typedHashTypes`, whose equality is equality of their text
///   form, are hashed as they are, with the type's own hash function
///   (text-like ones under collation "C", that is byte for byte): no output
///   function runs, which keeps a comparison near the speed of a plain scan;
/// - every other value (numeric, whose `1.5 = 1.50`; floats, whose
///   `-0 = 0`; interval, whose `'1 day' = '24 hours'`; json, enums, arrays,
///   composites…) is hashed as its text.
///
/// Rows fall into 256 buckets by the hash of their key.
enum RowChecksum {
    static let bucketCount = 256

    /// Types hashed as they are: for these, equal values print alike.
    static let typedHashTypes = ["int2", "int4", "int8", "oid", "bool", "text", "varchar", "name", "char",
                                 "uuid", "bytea", "date", "timestamp", "timestamptz", "time"]
    private static let collatable: Set<String> = ["text", "varchar", "name"]

    /// One column's value as the hash reads it.
    static func value(_ column: String, in table: MirroredTable) -> String {
        let name = SQLIdentifier.quote(column)
        guard let type = table.hashTypes[column] else { return "(\(name)::pg_catalog.text COLLATE \"C\")" }
        let cast = "\(name)::pg_catalog.\(SQLIdentifier.quote(type))"
        return collatable.contains(type) ? "(\(cast) COLLATE \"C\")" : cast
    }

    private static func record(_ columns: [String], in table: MirroredTable) -> String {
        "ROW(" + columns.map { value($0, in: table) }.joined(separator: ", ") + ")"
    }

    /// The row's hash (bigint).
    static func rowHash(_ table: MirroredTable) -> String {
        "hash_record_extended(\(record(table.columns, in: table)), 0)"
    }

    /// The row's bucket, 0…255, from its key.
    static func bucket(_ table: MirroredTable) -> String {
        "(hash_record_extended(\(record(table.key, in: table)), 1) & \(bucketCount - 1))::int"
    }

    /// The key as text, `(1,abc)`, to name a row.
    static func keyText(_ table: MirroredTable) -> String {
        "ROW(\(table.quotedKey.joined(separator: ", ")))::text"
    }

    /// One pass over `relation`: its row count and the sum of its row hashes
    /// (`sum(bigint)` adds exactly, as numeric), which no row order changes.
    /// Equal on both sides, the table is equal.
    static func totals(of relation: String, table: MirroredTable) -> String {
        "SELECT count(*), coalesce(sum(\(rowHash(table))), 0)::text FROM \(relation)"
    }

    /// One pass over `relation`: row count and sum of row hashes per
    /// non-empty bucket. The join to the 256 bucket numbers is only there
    /// for the planner: grouping by the bucket expression itself, it
    /// expects a group per row and sorts the whole table; grouping by a
    /// column of 256 values, it hashes, in parallel.
    static func buckets(of relation: String, table: MirroredTable) -> String {
        """
        SELECT b.bucket, count(*), sum(s.hash)::text
        FROM (SELECT \(bucket(table)) AS bucket, \(rowHash(table)) AS hash FROM \(relation)) s
        JOIN pg_catalog.generate_series(0, \(bucketCount - 1)) AS b(bucket) ON b.bucket = s.bucket
        GROUP BY b.bucket
        """
    }

    static let cursorName = "dbmirror_compare"

    /// A cursor over (bucket, key text, row hash) of the rows in the buckets
    /// `$1` (an `int[]`), in bucket order.
    static func rowsCursor(of relation: String, table: MirroredTable) -> String {
        """
        DECLARE \(cursorName) NO SCROLL CURSOR FOR
        SELECT s.bucket, s.key, s.hash FROM (
            SELECT \(bucket(table)) AS bucket, \(keyText(table)) AS key, \(rowHash(table)) AS hash
            FROM \(relation)) s
        WHERE s.bucket = ANY ($1::int[])
        ORDER BY s.bucket
        """
    }
}
