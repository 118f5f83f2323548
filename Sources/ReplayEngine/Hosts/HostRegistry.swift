import LibPQ

/// A slave as registered in the master's "MirrorHost".
public struct HostConfig: Sendable, Hashable {
    public var id: Int
    public var name: String
    /// The libpq connection string; may not hold a password (see `add`).
    public var conninfo: String
}

/// The master's host tables: "MirrorMaster", "MirrorHost", "MirroredTransaction".
enum HostRegistry {
    /// The master's id, which names its progress rows on the slaves.
    static func masterID(on connection: Connection) throws(ReplayError) -> String {
        let id: String?
        do throws(PostgresError) {
            id = try connection.execute(#"SELECT "MasterId"::text FROM "MirrorMaster""#).scalar
        } catch {
            throw setupError(error)
        }
        guard let id else {
            throw ReplayError(.master, #"the master has no "MirrorMaster" row; run extension/MirrorSetup.sql on it"#)
        }
        return id
    }

    /// Every registered host, by name.
    static func hosts(on connection: Connection) throws(ReplayError) -> [HostConfig] {
        do throws(PostgresError) {
            let result = try connection.execute(#"""
                SELECT "MirrorHostId", "HostName", "ConnInfo" FROM "MirrorHost" ORDER BY "HostName"
                """#)
            return (0..<result.rowCount).compactMap { row in
                guard let id = result.string(row: row, column: 0).flatMap({ Int($0) }),
                      let name = result.string(row: row, column: 1) else { return nil }
                return HostConfig(id: id, name: name, conninfo: result.string(row: row, column: 2) ?? "")
            }
        } catch {
            throw setupError(error)
        }
    }

    /// The hosts named `names` (all of them when empty); an unknown name is a usage error.
    static func hosts(named names: [String], on connection: Connection) throws(ReplayError) -> [HostConfig] {
        let all = try hosts(on: connection)
        guard !names.isEmpty else { return all }
        let unknown = names.filter { name in !all.contains { $0.name == name } }
        guard unknown.isEmpty else {
            throw ReplayError(.usage, "no host named \(unknown.map { "'\($0)'" }.joined(separator: ", ")) is registered on the master")
        }
        return all.filter { names.contains($0.name) }
    }

    /// The snapshot the master has recorded for the host: where it was
    /// registered, or the last batch known durable on its slave.
    static func recordedSnapshot(hostID: Int, on connection: Connection) throws(ReplayError) -> MasterSnapshot? {
        do throws(PostgresError) {
            let text = try connection.execute(#"""
                SELECT "Snapshot"::text FROM "MirroredTransaction" WHERE "MirrorHostId" = $1::integer
                """#, [String(hostID)]).scalar
            return text.flatMap(MasterSnapshot.init)
        } catch {
            throw ReplayError(master: error)
        }
    }

    /// Records a batch as applied (and durable) on the host; clears its error.
    static func recordApplied(hostID: Int, snapshot: MasterSnapshot, lastXID: UInt64?,
                              on connection: Connection) throws(PostgresError) {
        try connection.execute(#"""
            INSERT INTO "MirroredTransaction" ("MirrorHostId", "Snapshot", "LastXID", "AppliedAt")
            SELECT h."MirrorHostId", $2::pg_snapshot, $3::xid8, now()
            FROM "MirrorHost" h WHERE h."MirrorHostId" = $1::integer
            ON CONFLICT ("MirrorHostId") DO UPDATE
            SET "Snapshot" = excluded."Snapshot",
                "LastXID" = coalesce(excluded."LastXID", "MirroredTransaction"."LastXID"),
                "AppliedAt" = excluded."AppliedAt", "LastError" = NULL, "LastErrorAt" = NULL
            """#, [String(hostID), snapshot.text, lastXID.map { String($0) }])
    }

    /// Stores why the host stopped, for `dbmirror status`.
    static func recordError(hostID: Int, message: String, on connection: Connection) throws(PostgresError) {
        try connection.execute(#"""
            UPDATE "MirroredTransaction" SET "LastError" = $2, "LastErrorAt" = now()
            WHERE "MirrorHostId" = $1::integer
            """#, [String(hostID), message])
    }

    /// Turns "relation does not exist" on our tables into advice.
    static func setupError(_ error: PostgresError) -> ReplayError {
        if error.sqlState == "42P01" {
            return ReplayError(.master, "the master has no dbmirror queue tables (\(error.message)); run extension/MirrorSetup.sql on it",
                               postgres: error)
        }
        return ReplayError(master: error)
    }
}
