import LibPQ

/// Carries master sequence values to the slave, never moving one back.
enum SequenceSync {
    /// Inside the slave transaction: advances each sequence to at least the
    /// master's last value.
    static func apply(_ values: [SequenceValue], on connection: Connection) throws(ReplayError) {
        for value in values {
            let sql = """
                SELECT setval($1::regclass, $2::bigint, true) FROM \(value.quotedName)
                WHERE CASE WHEN is_called THEN last_value < $2::bigint ELSE last_value <= $2::bigint END
                """
            do throws(PostgresError) {
                try connection.execute(sql, [value.quotedName, String(value.lastValue)])
            } catch {
                throw ReplayError(.change, "cannot advance sequence \(value.quotedName) to \(value.lastValue): \(ReplayError.serverText(error))",
                                  postgres: error)
            }
        }
    }
}
