import LibPQ

/// Carries master sequence values to the slave, never moving one back.
enum SequenceSync {
    /// One statement per sequence, for the slave transaction: advances it
    /// to at least the master's last value.
    static func statements(_ values: [SequenceValue]) -> [(sql: String, parameters: [String?])] {
        values.map { value in
            ("""
             SELECT setval($1::regclass, $2::bigint, true) FROM \(value.quotedName)
             WHERE CASE WHEN is_called THEN last_value < $2::bigint ELSE last_value <= $2::bigint END
             """, [value.quotedName, String(value.lastValue)])
        }
    }

    /// Runs `statements` now, in the open slave transaction.
    static func apply(_ values: [SequenceValue], on connection: Connection) throws(ReplayError) {
        for (value, statement) in zip(values, statements(values)) {
            do throws(PostgresError) {
                try connection.execute(statement.sql, statement.parameters)
            } catch {
                throw ReplayError(.change, "cannot advance sequence \(value.quotedName) to \(value.lastValue): \(ReplayError.serverText(error))",
                                  postgres: error)
            }
        }
    }
}
