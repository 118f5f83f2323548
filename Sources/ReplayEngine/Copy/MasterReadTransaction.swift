import LibPQ

/// The master's REPEATABLE READ, read-only transaction a copy reads from:
/// one snapshot for every table, and the snapshot's text to record as the
/// slave's progress.
enum MasterReadTransaction {
    /// Sets the output settings the slave reads values back with, opens the
    /// transaction and returns its snapshot. With `importing`, the
    /// transaction takes the snapshot another one exported (`pg_export_snapshot()`).
    static func begin(on master: Connection, importing snapshotID: String? = nil) throws(ReplayError) -> MasterSnapshot {
        let text: String?
        do throws(PostgresError) {
            try master.executeScript(SlaveSession.sessionSettings)
            try master.executeScript("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if let snapshotID {
                try master.execute("SET TRANSACTION SNAPSHOT '\(snapshotID.replacingOccurrences(of: "'", with: "''"))'")
            }
            // The first query fixes the transaction's snapshot: this one.
            text = try master.execute("SELECT pg_current_snapshot()::text").scalar
        } catch {
            throw ReplayError(master: error)
        }
        guard let text, let snapshot = MasterSnapshot(text) else {
            throw ReplayError(.master, "the master returned an unreadable snapshot '\(text ?? "")'")
        }
        return snapshot
    }

    /// Exports the open transaction's snapshot for other sessions.
    static func export(on master: Connection) throws(ReplayError) -> String {
        do throws(PostgresError) {
            guard let id = try master.execute("SELECT pg_export_snapshot()").scalar else {
                throw PostgresError(kind: .unexpectedResult, message: "pg_export_snapshot() returned nothing")
            }
            return id
        } catch {
            throw ReplayError(master: error)
        }
    }

    /// Inside the transaction: the last value of every sequence in
    /// "MirroredSequence" that has handed one out, to carry to the slave
    /// with the copy (as every replayed batch does).
    static func sequences(on master: Connection) throws(ReplayError) -> [SequenceValue] {
        do throws(PostgresError) {
            let result = try master.execute("""
                SELECT n.nspname, c.relname, pg_sequence_last_value(c.oid)::text
                FROM "MirroredSequence" m
                JOIN pg_catalog.pg_class c ON c.oid = m."SequenceName"
                JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                ORDER BY 1, 2
                """)
            return (0..<result.rowCount).compactMap { row in
                guard let schema = result.string(row: row, column: 0), let name = result.string(row: row, column: 1),
                      let value = result.string(row: row, column: 2).flatMap({ Int64($0) }) else { return nil }
                return SequenceValue(schema: schema, name: name, lastValue: value)
            }
        } catch {
            throw HostRegistry.setupError(error)
        }
    }

    /// Ends the transaction (it only read).
    static func end(on master: Connection) {
        _ = try? master.executeScript("ROLLBACK")
    }
}
