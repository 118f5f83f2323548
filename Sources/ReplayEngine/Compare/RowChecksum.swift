/// The SQL a comparison runs, the same text on the master and the slave
/// but for the table's name.
///
/// A row is hashed as the text of `ROW(columns…)`, the columns named in the
/// master's order, so the slave's column order does not matter and both
/// sides render values with the same output functions under the same
/// settings (`SlaveSession.sessionSettings`, TimeZone UTC). Rows fall into
/// 256 buckets by the hash of their key's text; a bucket's summary is its
/// row count and the sum of its row hashes, which no row order changes.
enum RowChecksum {
    static let bucketCount = 256

    /// `ROW("a", "b")`.
    static func row(_ quotedColumns: [String]) -> String {
        "ROW(\(quotedColumns.joined(separator: ", ")))"
    }

    /// The bucket of a row, 0…255, from its key.
    static func bucket(key: [String]) -> String {
        "(hashtextextended(\(row(key))::text, 1) & \(bucketCount - 1))::int"
    }

    /// The row's hash.
    static func hash(columns: [String]) -> String {
        "hashtextextended(\(row(columns))::text, 0)"
    }

    /// One pass over `relation`: bucket, row count, sum of the row hashes
    /// (`sum(bigint)` adds exactly, as numeric), for every non-empty bucket.
    static func summary(of relation: String, table: MirroredTable) -> String {
        """
        SELECT \(bucket(key: table.quotedKey)), count(*), sum(\(hash(columns: table.quotedColumns)))::text
        FROM \(relation) GROUP BY 1
        """
    }

    static let cursorName = "dbmirror_compare"

    /// A cursor over (bucket, key text, row hash) of the rows in the buckets
    /// `$1` (an `int[]`), in bucket order.
    static func rowsCursor(of relation: String, table: MirroredTable) -> String {
        """
        DECLARE \(cursorName) NO SCROLL CURSOR FOR
        SELECT s.bucket, s.key, s.hash FROM (
            SELECT \(bucket(key: table.quotedKey)) AS bucket, \(row(table.quotedKey))::text AS key,
                   \(hash(columns: table.quotedColumns)) AS hash
            FROM \(relation)) s
        WHERE s.bucket = ANY ($1::int[])
        ORDER BY s.bucket
        """
    }
}
