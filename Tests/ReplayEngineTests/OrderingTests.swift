import Foundation
import Testing

/// Concurrent, interleaved and dependent master transactions end up on the
/// slaves as the master has them, and a slave never shows half a transaction.
@Suite("Ordering and atomicity", .serialized)
struct OrderingTests {
    @Test("concurrent writers with dependent transactions, checked row by row")
    func concurrentWriters() throws {
        let mirror = try Mirror.make("concurrent", schema: """
            CREATE TABLE account (id int PRIMARY KEY, balance bigint NOT NULL);
            CREATE TABLE ledger (id bigserial PRIMARY KEY, src int, dst int, amount int);
            CREATE TABLE slot (k int PRIMARY KEY, owner int);
            """, tables: ["account", "ledger", "slot"])
        try SQL.run(mirror.master, "INSERT INTO account SELECT g, 1000 FROM generate_series(1, 50) g;")

        // Transfers between random accounts (row locks make them depend on
        // each other), and rows that are deleted and re-inserted with the
        // same key by different transactions.
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("dbmirror-\(UUID()).sql")
        try """
            \\set a random(1, 50)
            \\set b random(1, 50)
            \\set k random(1, 20)
            BEGIN;
            UPDATE account SET balance = balance + CASE WHEN id = :a AND id <> :b THEN -7 WHEN id = :b AND id <> :a THEN 7 ELSE 0 END WHERE id IN (:a, :b);
            INSERT INTO ledger (src, dst, amount) VALUES (:a, :b, 7);
            DELETE FROM slot WHERE k = :k;
            INSERT INTO slot VALUES (:k, :a) ON CONFLICT (k) DO UPDATE SET owner = excluded.owner;
            COMMIT;
            """.write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }

        // Replay while the writers run, so batches cut through the workload.
        let bench = try Command.start("pgbench", ["-n", "-c", "4", "-j", "2", "-t", "300", "--max-tries", "20", "-f", script.path, mirror.master])
        for _ in 0..<3 {
            Thread.sleep(forTimeInterval: 0.3)
            let r = try mirror.replayOnce()
            #expect(r.status == 0, "\(r.stderr)")
            // Every applied state is one the master really had: money is conserved.
            for s in mirror.slaves {
                #expect(try SQL.run(s.conninfo, "SELECT coalesce(sum(balance), 50000) FROM account") == "50000")
                let ledger = try SQL.count(s.conninfo, "SELECT count(*) FROM ledger")
                let moved = try SQL.count(s.conninfo, "SELECT count(*) FROM account WHERE balance <> 1000")
                #expect(ledger > 0 || moved == 0)
            }
        }
        let out = try bench.wait(timeout: 600)
        #expect(out.status == 0, "pgbench failed: \(out.stderr)")
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["account", "ledger", "slot"])
        #expect(try SQL.count(mirror.slave("slave1"), "SELECT count(*) FROM ledger") == 1200)
    }

    @Test("a transaction that commits long after its first row is applied whole, after the ones that committed before it")
    func longTransaction() throws {
        let mirror = try Mirror.make("longtx", schema: """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            """, tables: ["t"])
        try SQL.run(mirror.master, "INSERT INTO t VALUES (1, 'start');")

        // A session that writes, waits, writes again and commits.
        let long = try Command.start("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", mirror.master, "-f", "-"], input: """
            BEGIN;
            INSERT INTO t VALUES (100, 'long-first');
            UPDATE t SET v = 'long' WHERE id = 1;
            SELECT pg_sleep(3);
            INSERT INTO t VALUES (101, 'long-last');
            COMMIT;
            """)
        Thread.sleep(forTimeInterval: 1)
        // Meanwhile other transactions commit, and are replayed without it.
        try SQL.run(mirror.master, "INSERT INTO t VALUES (2, 'short'); INSERT INTO t VALUES (3, 'short');")
        try mirror.replayOnceExpectingSuccess()
        for s in mirror.slaves {
            #expect(try SQL.run(s.conninfo, "SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM t") == "1=start,2=short,3=short")
        }
        let r = try long.wait(timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["t"])
        #expect(try SQL.run(mirror.slave("slave2"), "SELECT v FROM t WHERE id = 1") == "long")
    }

    @Test("a batch whose SeqId range holds changes already applied, kept in the queue for another slave, skips them")
    func appliedChangesInsideTheRange() throws {
        let mirror = try Mirror.make("inrange", schema: """
            CREATE TABLE t (id int PRIMARY KEY, v text);
            """, tables: ["t"])
        // The long transaction takes the first SeqId and the last; the short
        // one, committed in between, the ones in the middle.
        let long = try Command.start("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", mirror.master, "-f", "-"], input: """
            BEGIN;
            INSERT INTO t VALUES (100, 'long-first');
            SELECT pg_sleep(3);
            INSERT INTO t VALUES (101, 'long-last');
            COMMIT;
            """)
        Thread.sleep(forTimeInterval: 1)
        try SQL.run(mirror.master, "INSERT INTO t VALUES (1, 'short'), (2, 'short');")
        // slave1 takes the short transaction; slave2 has not, so the queue keeps it.
        var r = try mirror.replayOnce(["--host", "slave1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try SQL.run(mirror.slave("slave1"), "SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM t") == "1=short,2=short")
        #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "Pending""#) == 2)
        r = try long.wait(timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        // slave1's next batch is the long transaction alone, whose first and
        // last SeqId enclose the short one's rows: applying those again would
        // fail on the primary key.
        r = try mirror.replayOnce(["--host", "slave1"])
        #expect(r.status == 0, "\(r.stderr)")
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["t"])
        #expect(try SQL.run(mirror.slave("slave1"), "SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM t")
                == "1=short,2=short,100=long-first,101=long-last")
    }

    @Test("rolled-back transactions and savepoints leave nothing on the slaves")
    func rollbacks() throws {
        let mirror = try Mirror.make("rollback", schema: "CREATE TABLE t (id int PRIMARY KEY, v text);", tables: ["t"])
        try SQL.run(mirror.master, """
            BEGIN; INSERT INTO t VALUES (1, 'gone'); ROLLBACK;
            BEGIN; INSERT INTO t VALUES (2, 'kept'); SAVEPOINT s; INSERT INTO t VALUES (3, 'gone'); UPDATE t SET v = 'gone' WHERE id = 2; ROLLBACK TO s; INSERT INTO t VALUES (4, 'kept'); COMMIT;
            """)
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["t"])
        #expect(try SQL.run(mirror.slave("slave1"), "SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM t") == "2=kept,4=kept")
    }
}
