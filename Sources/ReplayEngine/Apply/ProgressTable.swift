import LibPQ

/// The slave's `dbmirror.progress`: per master, the master snapshot whose
/// committed transactions this slave holds. It is written in the same slave
/// transaction as the changes, so it is the truth about what was applied.
enum ProgressTable {
    static let creation = """
        CREATE SCHEMA IF NOT EXISTS dbmirror;
        CREATE TABLE IF NOT EXISTS dbmirror.progress (
            master_id   uuid PRIMARY KEY,
            snapshot    pg_snapshot NOT NULL,
            last_xid    xid8,
            last_seq_id bigint,
            applied_at  timestamptz NOT NULL DEFAULT now()
        );
        """

    /// Creates the table unless it exists.
    static func ensure(on connection: Connection) throws(PostgresError) {
        let exists = try connection.execute("SELECT to_regclass('dbmirror.progress') IS NOT NULL").scalar == "t"
        if exists { return }
        do throws(PostgresError) {
            try connection.executeScript(creation)
        } catch where error.sqlState == "23505" || error.sqlState == "42P07" {
            // Another replayer created it at the same moment.
        }
    }

    /// The snapshot recorded for `masterID`, nil when there is none.
    static func read(masterID: String, on connection: Connection) throws(PostgresError) -> String? {
        try connection.execute(
            "SELECT snapshot::text FROM dbmirror.progress WHERE master_id = $1::uuid", [masterID]).scalar
    }

    /// Creates the row at `start` unless there is one (first statement of
    /// a new slave's first batch).
    static func creation(masterID: String, start: String) -> (sql: String, parameters: [String?]) {
        ("""
         INSERT INTO dbmirror.progress (master_id, snapshot) VALUES ($1::uuid, $2::pg_snapshot)
         ON CONFLICT (master_id) DO NOTHING
         """, [masterID, start])
    }

    /// Takes the row lock that serialises replayers on this slave and
    /// returns the snapshot the row holds now.
    static func lock(masterID: String) -> (sql: String, parameters: [String?]) {
        ("SELECT snapshot::text FROM dbmirror.progress WHERE master_id = $1::uuid FOR UPDATE", [masterID])
    }

    /// Records that the slave now holds `snapshot`.
    static func advance(masterID: String, to snapshot: MasterSnapshot, lastXID: UInt64?,
                        lastSeqID: Int64?) -> (sql: String, parameters: [String?]) {
        ("""
         UPDATE dbmirror.progress
         SET snapshot = $2::pg_snapshot, last_xid = coalesce($3::xid8, last_xid),
             last_seq_id = coalesce($4::bigint, last_seq_id), applied_at = now()
         WHERE master_id = $1::uuid
         """, [masterID, snapshot.text, lastXID.map { String($0) }, lastSeqID.map { String($0) }])
    }

    /// Runs `creation` (when `start` is given) and `lock` now; returns the snapshot held.
    static func lock(masterID: String, creatingAt start: String?, on connection: Connection) throws(PostgresError) -> String? {
        if let start {
            let create = creation(masterID: masterID, start: start)
            try connection.execute(create.sql, create.parameters)
        }
        let statement = lock(masterID: masterID)
        return try connection.execute(statement.sql, statement.parameters).scalar
    }

    /// Runs `advance` now.
    static func advance(masterID: String, to snapshot: MasterSnapshot, lastXID: UInt64?, lastSeqID: Int64?,
                        on connection: Connection) throws(PostgresError) {
        let statement = advance(masterID: masterID, to: snapshot, lastXID: lastXID, lastSeqID: lastSeqID)
        try connection.execute(statement.sql, statement.parameters)
    }
}
