import Foundation
import Testing

/// How a running replayer learns of new changes. It holds the listener lock
/// while it listens, and the capture notifies only then (pg_regress's
/// `notify` spec covers the capture's side). The replayer here looks for
/// changes on its own only every hour, so whatever reaches the slaves was
/// woken for. (Nothing here asserts that something is not applied: the
/// watcher follows the transactions running when it takes the lock, in the
/// whole test cluster, and wakes the hosts as they end.)
@Suite("Wake-up", .serialized)
struct WakeUpTests {
    /// The listener lock, `pg_advisory_lock_shared(7233464251169533810)`
    /// ("dbmirror" in ASCII), as pg_locks shows it.
    static let listenerLockHeld = """
        SELECT count(*) FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND mode = 'ShareLock'
          AND classid = 1684172137 AND objid = 1920102258 AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """

    @Test("a listening replayer is notified; a transaction that ran while it connected is read once it ends")
    func notifiedAndUnannounced() throws {
        let mirror = try Mirror.make("wakeup", schema: "CREATE TABLE t (id int PRIMARY KEY, v text);", tables: ["t"])
        let early = "\(mirror.name)_early"
        defer { _ = try? SQL.run(mirror.master, "ROLLBACK PREPARED '\(early)';") }
        // Queued before anyone listens: no notification, and still running
        // (prepared) when the replayer takes the lock.
        try SQL.run(mirror.master, "BEGIN; INSERT INTO t VALUES (1, 'early'); PREPARE TRANSACTION '\(early)';")
        try SQL.run(mirror.master, "INSERT INTO t VALUES (0, 'before');")

        let run = try startListening(mirror, ["--log-level", "debug"])
        defer { if run.isRunning { run.kill(SIGKILL); _ = try? run.wait(timeout: 10) } }
        try waitFor("the rows committed before the start", run) { try mirror.slavesShow(["0=before"]) }
        // Let the hosts record that batch and go idle.
        Thread.sleep(forTimeInterval: 1.5)

        // Committed while the replayer listens: notified.
        let notified = try insertReturningXID(mirror, "(2, 'notified')")
        try waitFor("the notified row", run) { try mirror.slavesShow(["0=before", "2=notified"]) }
        // A host looks once more right after it records a batch on the
        // master: wait for the record, and a second for that look, so that
        // only the watcher can wake it for what follows.
        try waitForRecord(of: notified, mirror, run)
        Thread.sleep(forTimeInterval: 1)
        // The transaction that was running when the replayer took the lock:
        // the replayer looks again once it has ended.
        try SQL.run(mirror.master, "COMMIT PREPARED '\(early)';")
        try waitFor("the transaction that ran while the replayer connected", run) {
            try mirror.slavesShow(["0=before", "1=early", "2=notified"])
        }

        try stopCleanly(run)
        try waitFor("the lock to go with the replayer's connection", run) {
            try SQL.count(mirror.master, Self.listenerLockHeld) == 0
        }
    }

    @Test("a burst of transactions from four sessions reaches the slaves without the poll")
    func burst() throws {
        let mirror = try Mirror.make("burst", schema: "CREATE TABLE t (id int PRIMARY KEY, v text);", tables: ["t"])
        let run = try startListening(mirror)
        defer { if run.isRunning { run.kill(SIGKILL); _ = try? run.wait(timeout: 10) } }
        // Most of these commit while the lock is let go after a notification
        // (ListenerLock.quietPeriod) and notify nobody.
        let writers = try (0..<4).map { writer in
            try Command.start("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", mirror.master, "-f", "-"],
                              input: (1...250).map { "INSERT INTO t VALUES (\(writer * 1000 + $0), 'w\(writer)');" }
                                  .joined(separator: "\n"))
        }
        for writer in writers {
            let out = try writer.wait(timeout: 300)
            #expect(out.status == 0, "psql failed: \(out.stderr)")
        }
        try waitFor("all 1,000 rows on every slave", run) {
            try mirror.slaves.allSatisfy { try SQL.count($0.conninfo, "SELECT count(*) FROM t") == 1000 }
        }
        try mirror.expectSlavesEqual(["t"])
        try stopCleanly(run)
    }

    @Test("an idle replayer stays idle: no batch after the last one is recorded")
    func idle() throws {
        // A master of its own, where nothing else runs (the watcher wakes the
        // hosts as transactions it follows end, anywhere in the cluster).
        let cluster = try Clusters.startPrivate(name: "idle", settings: ["autovacuum=off"])
        defer { Clusters.destroy(cluster) }
        let mirror = try Mirror.make("idle", schema: "CREATE TABLE t (id int PRIMARY KEY, v text);",
                                     tables: ["t"], master: cluster)
        let run = try startListening(mirror)
        defer { if run.isRunning { run.kill(SIGKILL); _ = try? run.wait(timeout: 10) } }
        let xid = try insertReturningXID(mirror, "(1, 'one')")
        try waitFor("the row", run) { try mirror.slavesShow(["1=one"]) }
        try waitForRecord(of: xid, mirror, run)
        // After the record a host looks once more, and then waits.
        Thread.sleep(forTimeInterval: 1)
        let progress = "SELECT snapshot::text FROM dbmirror.progress"
        let before = try mirror.slaves.map { try SQL.run($0.conninfo, progress) }
        Thread.sleep(forTimeInterval: 2)
        let after = try mirror.slaves.map { try SQL.run($0.conninfo, progress) }
        // Until 2026-11-27 an idle host committed an empty batch every 250 ms.
        #expect(before == after, "an idle host applied batches: progress \(before) -> \(after)")
        try stopCleanly(run)
    }

    /// `dbmirror run` that looks for changes on its own only every hour,
    /// once it holds the listener lock.
    private func startListening(_ mirror: Mirror, _ extra: [String] = []) throws -> RunningCommand {
        let run = try Dbmirror.start(["run", "--master", mirror.master, "--poll-interval", "3600"] + extra)
        do {
            try waitFor("the replayer to hold the listener lock", run) {
                try SQL.count(mirror.master, Self.listenerLockHeld) == 1
            }
        } catch {
            run.kill(SIGKILL)
            _ = try? run.wait(timeout: 10)
            throw error
        }
        return run
    }

    /// Commits one row of t (`values`, as SQL) and returns its xid8.
    private func insertReturningXID(_ mirror: Mirror, _ values: String) throws -> String {
        try SQL.run(mirror.master, "BEGIN; INSERT INTO t VALUES \(values); SELECT pg_current_xact_id(); COMMIT;")
    }

    /// Waits until every host's batch record on the master covers `xid`.
    private func waitForRecord(of xid: String, _ mirror: Mirror, _ run: RunningCommand) throws {
        try waitFor("the hosts to record their batch", run) {
            try SQL.count(mirror.master, """
                SELECT count(*) FROM "MirroredTransaction"
                WHERE pg_visible_in_snapshot('\(xid)'::xid8, "Snapshot")
                """) == mirror.slaves.count
        }
    }

    private func stopCleanly(_ run: RunningCommand, sourceLocation: SourceLocation = #_sourceLocation) throws {
        run.kill(SIGTERM)
        let out = try run.wait(timeout: 30)
        #expect(out.status == 0, "SIGTERM should stop the replayer cleanly:\n\(out.stderr.suffix(2000))",
                sourceLocation: sourceLocation)
    }

    /// Polls `condition` every 0.1 s for up to 30 s.
    private func waitFor(_ what: String, _ run: RunningCommand, _ condition: () throws -> Bool,
                         sourceLocation: SourceLocation = #_sourceLocation) throws {
        for _ in 0..<300 {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Issue.record("timed out waiting for \(what):\n\(run.currentStderr().suffix(2000))", sourceLocation: sourceLocation)
        throw HarnessError(description: "timed out waiting for \(what)")
    }
}

extension Mirror {
    /// True when every slave's t holds exactly `rows` ("id=v", by id).
    fileprivate func slavesShow(_ rows: [String]) throws -> Bool {
        try slaves.allSatisfy {
            try SQL.run($0.conninfo, "SELECT coalesce(string_agg(id || '=' || v, ',' ORDER BY id), '') FROM t")
                == rows.joined(separator: ",")
        }
    }
}
