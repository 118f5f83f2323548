import LibPQ

/// The master's side of an initial copy: the host's row in "MirrorHost"
/// while the copy runs, and its "MirroredTransaction" row once it is done.
enum CopyRegistration {
    /// Registers `name` for a copy, in one master transaction: a new
    /// "MirrorHost" row (a host already registered under `name` gets a
    /// fresh row and id, so a replayer still working for the old id can no
    /// longer record anything for it) and no "MirroredTransaction" row.
    ///
    /// Without that row no replayer starts on the host (it has no starting
    /// point) and queue cleanup deletes nothing, so every change the copy's
    /// snapshot will not see stays queued for the host.
    static func register(name: String, conninfo: String, on master: Connection) throws(ReplayError) -> (host: HostConfig, replaced: Bool) {
        do throws(PostgresError) {
            try master.executeScript("BEGIN")
            let replaced = try master.execute(#"DELETE FROM "MirrorHost" WHERE "HostName" = $1"#, [name]).affectedRows ?? 0
            let id = try master.execute(#"""
                INSERT INTO "MirrorHost" ("HostName", "ConnInfo") VALUES ($1, $2) RETURNING "MirrorHostId"::text
                """#, [name, conninfo]).scalar
            guard let id, let number = Int(id) else {
                throw PostgresError(kind: .unexpectedResult, message: #"INSERT INTO "MirrorHost" returned no id"#)
            }
            try master.execute(#"DELETE FROM "MirroredTransaction" WHERE "MirrorHostId" = $1::integer"#, [id])
            try master.executeScript("COMMIT")
            return (HostConfig(id: number, name: name, conninfo: conninfo), replaced > 0)
        } catch {
            if master.isOpen { _ = try? master.executeScript("ROLLBACK") }
            throw HostRegistry.setupError(error)
        }
    }

    /// Records on the master that the host holds `snapshot`, unless a
    /// replayer already recorded a batch for it (which is later).
    ///
    /// - Throws: `.usage` when the host's row is gone (removed during the copy).
    static func recordCopied(host: HostConfig, snapshot: MasterSnapshot, on master: Connection) throws(ReplayError) {
        let hostRows: String?
        do throws(PostgresError) {
            hostRows = try master.execute(#"""
                WITH h AS (SELECT "MirrorHostId" FROM "MirrorHost" WHERE "MirrorHostId" = $1::integer),
                     added AS (
                         INSERT INTO "MirroredTransaction" ("MirrorHostId", "Snapshot")
                         SELECT "MirrorHostId", $2::pg_snapshot FROM h
                         ON CONFLICT ("MirrorHostId") DO NOTHING
                         RETURNING 1)
                SELECT (SELECT count(*) FROM h)::text
                """#, [String(host.id), snapshot.text]).scalar
        } catch {
            throw ReplayError(master: error)
        }
        guard hostRows == "1" else {
            throw ReplayError(.usage, "host '\(host.name)' was removed from the master during the copy; the slave holds the copy, but nothing replays to it")
        }
    }
}
