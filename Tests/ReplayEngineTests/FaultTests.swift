import Foundation
import Testing

/// Faults never lose or duplicate a change: a killed replayer, a slave that
/// goes away, and a change a slave refuses.
@Suite("Faults", .serialized)
struct FaultTests {
    @Test("SIGKILL of the replayer in the middle of a large batch, then resume")
    func killedMidBatch() throws {
        let mirror = try Mirror.make("sigkill", schema: """
            CREATE TABLE big (id int PRIMARY KEY, payload text, n int);
            """, tables: ["big"])
        try SQL.run(mirror.master, "INSERT INTO big SELECT g, repeat('x', 50) || g, g FROM generate_series(1, 100000) g;")
        try SQL.run(mirror.master, "UPDATE big SET n = n + 1 WHERE id % 2 = 0; DELETE FROM big WHERE id % 5 = 0;")
        for delay in [0.3, 0.8, 1.5] {
            let run = try Dbmirror.start(["run", "--master", mirror.master])
            Thread.sleep(forTimeInterval: delay)
            run.kill(SIGKILL)
            _ = try run.wait(timeout: 30)
            // Whatever a slave shows is a state the master had: all, or a prefix of whole transactions.
            for s in mirror.slaves {
                let n = try SQL.count(s.conninfo, "SELECT count(*) FROM big")
                #expect([0, 100000, 80000].contains(n), "\(s.host) shows \(n) rows: a transaction was split")
            }
        }
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["big"])
    }

    @Test("a slave stopped and restarted during replay catches up")
    func slaveRestart() throws {
        let cluster = try Clusters.startPrivate(name: "restart")
        defer { Clusters.destroy(cluster) }
        let mirror = try Mirror.make("restart", schema: "CREATE TABLE t (id int PRIMARY KEY, v int);",
                                     tables: ["t"], slaves: [cluster, try Clusters.slave2])
        let run = try Dbmirror.start(["run", "--master", mirror.master])
        defer { if run.isRunning { run.kill(SIGKILL); _ = try? run.wait(timeout: 10) } }
        for i in 1...30 {
            try SQL.run(mirror.master, "INSERT INTO t VALUES (\(i), \(i)); UPDATE t SET v = v + 1 WHERE id = \(i);")
            if i == 10 { try Clusters.stop(cluster) }
            if i == 20 { try Clusters.restart(cluster) }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let want = try SQL.dump(mirror.master, table: "t")
        var caughtUp = false
        for _ in 0..<300 where !caughtUp {
            caughtUp = try mirror.slaves.allSatisfy { try SQL.dump($0.conninfo, table: "t") == want }
            if !caughtUp { Thread.sleep(forTimeInterval: 0.2) }
        }
        #expect(caughtUp, "slaves did not catch up after the restart:\n\(run.currentStderr().suffix(2000))")
        run.kill(SIGTERM)
        let out = try run.wait(timeout: 30)
        #expect(out.status == 0, "SIGTERM should stop the replayer cleanly:\n\(out.stderr.suffix(2000))")
    }

    @Test("a conflicting row on one slave stops that slave with a clear error; the other completes; fixing it resumes")
    func conflict() throws {
        let mirror = try Mirror.make("conflict", schema: "CREATE TABLE t (id int PRIMARY KEY, v text);", tables: ["t"])
        try SQL.run(mirror.master, "INSERT INTO t VALUES (1, 'one');")
        try mirror.replayOnceExpectingSuccess()
        try SQL.run(mirror.slave("slave1"), "INSERT INTO t VALUES (2, 'planted');")
        try SQL.run(mirror.master, "INSERT INTO t VALUES (3, 'three'); INSERT INTO t VALUES (2, 'two'); UPDATE t SET v = 'uno' WHERE id = 1;")

        let failed = try mirror.replayOnce()
        #expect(failed.status == 1, "a failed host must make --once exit 1, got \(failed.status)")
        let seqId = try SQL.run(mirror.master, #"SELECT p."SeqId" FROM "Pending" p JOIN "PendingData" d USING ("SeqId") WHERE d."Data" LIKE '"id"=''2''%' AND p."Op" = 'i'"#)
        for needle in ["slave1", "t", seqId, "23505"] {
            #expect(failed.stderr.contains(needle), "the error should name \(needle):\n\(failed.stderr)")
        }
        try mirror.expectSlavesEqual(["t"], only: ["slave2"])
        // Nothing of the failed batch is on slave1.
        #expect(try SQL.run(mirror.slave("slave1"), "SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM t") == "1=one,2=planted")
        let status = try Dbmirror.run(["status", "--master", mirror.master, "--json"])
        #expect(status.status != 2, "\(status.stderr)")
        #expect(status.stdout.contains("slave1") && status.stdout.contains("23505") || status.stdout.contains("duplicate key"),
                "status should show slave1's error:\n\(status.stdout)")

        try SQL.run(mirror.slave("slave1"), "DELETE FROM t WHERE id = 2;")
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["t"])
    }

    @Test("a conflicting row inside a long run of inserts (sent by COPY, confirmed later) names its own change; fixing it resumes")
    func conflictInsideCopy() throws {
        let mirror = try Mirror.make("copyconflict", schema: "CREATE TABLE t (id int PRIMARY KEY, v text);", tables: ["t"])
        try SQL.run(mirror.slave("slave1"), "INSERT INTO t VALUES (250, 'planted');")
        // 500 inserts in one transaction: far above the COPY threshold.
        try SQL.run(mirror.master, "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 500) g;")

        let failed = try mirror.replayOnce()
        #expect(failed.status == 1, "a failed host must make --once exit 1, got \(failed.status)")
        let seqId = try SQL.run(mirror.master, #"SELECT p."SeqId" FROM "Pending" p JOIN "PendingData" d USING ("SeqId") WHERE d."Data" LIKE '"id"=''250''%' AND p."Op" = 'i'"#)
        for needle in ["slave1", "SeqId \(seqId)", "23505"] {
            #expect(failed.stderr.contains(needle), "the error should name \(needle):\n\(failed.stderr)")
        }
        try mirror.expectSlavesEqual(["t"], only: ["slave2"])
        #expect(try SQL.count(mirror.slave("slave1"), "SELECT count(*) FROM t") == 1)

        try SQL.run(mirror.slave("slave1"), "DELETE FROM t WHERE id = 250;")
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["t"])
    }

    @Test("a missing table on a slave is a clear error, and undecodable queue data stops the slave")
    func badInput() throws {
        let mirror = try Mirror.make("badinput", schema: "CREATE TABLE t (id int PRIMARY KEY, v text);", tables: ["t"])
        try SQL.run(mirror.slave("slave2"), "DROP TABLE t;")
        try SQL.run(mirror.master, "INSERT INTO t VALUES (1, 'x');")
        let r = try mirror.replayOnce()
        #expect(r.status == 1)
        #expect(r.stderr.contains("slave2") && r.stderr.contains("t"), "\(r.stderr)")
        try mirror.expectSlavesEqual(["t"], only: ["slave1"])
        try SQL.run(mirror.slave("slave2"), "CREATE TABLE t (id int PRIMARY KEY, v text);")
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["t"])

        // Corrupt queued data: both slaves stop at that change and keep it queued.
        try SQL.run(mirror.master, "INSERT INTO t VALUES (2, 'y');")
        try SQL.run(mirror.master, #"UPDATE "PendingData" SET "Data" = '"id"=''2'' "v"=''unterminated ' WHERE "Data" LIKE '"id"=''2''%';"#)
        let bad = try mirror.replayOnce()
        #expect(bad.status == 1)
        // The value opened at byte 13 (`"id"='2' "v"=` is 13 bytes) is never closed.
        #expect(bad.stderr.contains("byte 13"), "a decoding error should say where:\n\(bad.stderr)")
        #expect(try SQL.count(mirror.slave("slave1"), "SELECT count(*) FROM t") == 1)
        try SQL.run(mirror.master, #"UPDATE "PendingData" SET "Data" = '"id"=''2'' "v"=''y'' ' WHERE "Data" LIKE '"id"=''2''%';"#)
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["t"])
    }

    @Test("a batch over a queue a vacuum holds waits briefly for its summary, then reads the queue unsummarised")
    func summaryBehindAVacuum() throws {
        let mirror = try Mirror.make("summary", schema: """
            CREATE TABLE t (id int PRIMARY KEY, payload text);
            """, tables: ["t"])
        // About 7 MB of "PendingData": a superuser's replayer waits for a vacuum from 4 MB on.
        try SQL.run(mirror.master, "INSERT INTO t SELECT g, repeat('x', 60) || g FROM generate_series(1, 80000) g;")
        // The lock a VACUUM takes, held by a session that is not an autovacuum
        // (so it is never cancelled): the summary must give up, not wait 10 s.
        let holder = try Command.start("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", mirror.master, "-f", "-"], input: #"""
            BEGIN;
            LOCK TABLE "PendingData" IN SHARE UPDATE EXCLUSIVE MODE;
            SELECT pg_sleep(4);
            COMMIT;
            """#)
        Thread.sleep(forTimeInterval: 0.7)
        let r = try mirror.replayOnce()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("a vacuum holds the queue") && r.stderr.contains("longest_wait=500ms"), "\(r.stderr)")
        try mirror.expectSlavesEqual(["t"])
        let held = try holder.wait(timeout: 60)
        #expect(held.status == 0, "\(held.stderr)")
    }
}
