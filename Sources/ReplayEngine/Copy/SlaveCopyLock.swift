import LibPQ

/// One copy at a time into a slave database from a given master: a
/// session-level advisory lock on the slave, held by the copy's main slave
/// connection and released when it closes (also when the process dies).
enum SlaveCopyLock {
    /// Takes the lock on `slave`, waiting up to `timeoutSeconds` for a copy
    /// that just ended (its server session may take a moment to go).
    ///
    /// - Throws: `.usage` when another copy holds it.
    static func acquire(masterID: String, on slave: Connection, timeoutSeconds: Int = 15) throws(ReplayError) {
        do throws(PostgresError) {
            try slave.executeScript("SET lock_timeout = '\(timeoutSeconds)s'")
            defer { _ = try? slave.executeScript("RESET lock_timeout") }
            try slave.execute("SELECT pg_advisory_lock(hashtextextended('dbmirror copy from ' || $1, 0))", [masterID])
        } catch where error.sqlState == "55P03" {
            throw ReplayError(.usage, "another dbmirror copy from this master into this slave database is running; wait for it to end (or stop it) and try again")
        } catch {
            throw ReplayError(slave: error)
        }
    }
}
