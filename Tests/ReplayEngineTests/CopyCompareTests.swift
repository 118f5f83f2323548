import Foundation
import Testing
@testable import ReplayEngine

/// `add-host --copy`, `copy-table` and `compare`, end to end: copies taken
/// while the master keeps writing lose and repeat nothing, interrupted
/// copies start over cleanly, and `compare` finds and names differences.
@Suite("Initial copy and compare", .serialized)
struct CopyCompareTests {
    /// A fresh database on `cluster` named after the mirror, and its connection string.
    private func slaveDatabase(_ mirror: Mirror, on cluster: Cluster, schema: String? = nil) throws -> String {
        try SQL.run(cluster.conninfo, "CREATE DATABASE \(mirror.name);")
        let conninfo = cluster.conninfo(database: mirror.name)
        if let schema { try SQL.run(conninfo, schema) }
        return conninfo
    }

    /// A pgbench script in a temporary file; removed by the caller.
    private func script(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dbmirror-copy-\(UUID()).sql")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func compare(_ mirror: Mirror, _ extra: [String] = []) throws -> CommandOutput {
        try Dbmirror.run(["compare", "--master", mirror.master] + extra)
    }

    /// The slave's progress row for this master, or "" when it has none.
    private func progress(_ slave: String) throws -> String {
        try SQL.run(slave, "SELECT coalesce((SELECT snapshot::text FROM dbmirror.progress), '')")
    }

    static let bankSchema = """
        CREATE TABLE account (id int PRIMARY KEY, balance bigint NOT NULL, note text);
        CREATE TABLE history (id bigserial PRIMARY KEY, account int NOT NULL, delta int NOT NULL,
                              at timestamptz NOT NULL DEFAULT now());
        """

    @Test("a copy taken while a writer commits continuously, then replay: equal, row by row")
    func copyUnderLoad() throws {
        let mirror = try Mirror.make("copyload", schema: Self.bankSchema, tables: ["account", "history"], slaves: [])
        try SQL.run(mirror.master, """
            INSERT INTO account SELECT g, 1000, repeat('n', g % 50) FROM generate_series(1, 100000) g;
            INSERT INTO history (account, delta) SELECT g % 100000 + 1, 1 FROM generate_series(1, 200000) g;
            ANALYZE;
            """)
        let slave = try slaveDatabase(mirror, on: try Clusters.slave1, schema: Self.bankSchema)
        let writes = try script("""
            \\set a random(1, 100000)
            \\set b random(1, 100000)
            BEGIN;
            UPDATE account SET balance = balance - 5 WHERE id = :a;
            UPDATE account SET balance = balance + 5, note = 'paid' WHERE id = :b;
            INSERT INTO history (account, delta) VALUES (:a, -5), (:b, 5);
            DELETE FROM history WHERE id = (:a * 2);
            COMMIT;
            """)
        defer { try? FileManager.default.removeItem(at: writes) }
        let bench = try Writer(script: writes, master: mirror.master)
        Thread.sleep(forTimeInterval: 1.5)
        let copy = try Dbmirror.run(["add-host", "slave1", "--conninfo", slave, "--master", mirror.master, "--copy", "--jobs", "2"])
        #expect(copy.status == 0, "add-host --copy failed: \(copy.stderr)")
        #expect(bench.isRunning, "the writer stopped before the copy ended: \(bench.stop().stderr)")
        #expect(copy.stderr.contains("copied public.account: 100,000 rows"), "\(copy.stderr)")
        // Replay while the writer still runs (it applies what committed
        // after the copy's snapshot), then once it has stopped.
        let during = try mirror.replayOnce()
        #expect(during.status == 0, "\(during.stderr)")
        #expect(during.stderr.contains("applied batch"), "nothing committed during the copy: \(during.stderr)")
        Thread.sleep(forTimeInterval: 1)
        bench.stop()
        try mirror.replayOnceExpectingSuccess()

        let mirrorWithSlave = Mirror(name: mirror.name, master: mirror.master, slaves: [("slave1", slave)])
        try mirrorWithSlave.expectSlavesEqual(["account", "history"])
        #expect(try SQL.run(slave, "SELECT sum(balance) FROM account") == "100000000", "money was created or lost")
        let compared = try compare(mirror)
        #expect(compared.status == 0, "compare: \(compared.stdout)\n\(compared.stderr)")
        #expect(compared.stdout.contains("slave1  public.account  equal (100000 rows)"), "\(compared.stdout)")
        // The master records the host's progress; cleanup works again.
        #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "MirroredTransaction""#) == 1)
        let clean = try Dbmirror.run(["clean", "--master", mirror.master])
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(!clean.stderr.contains("skipped"), "\(clean.stderr)")
    }

    @Test("--create-tables builds the missing tables with their primary keys on an empty slave database")
    func createTables() throws {
        let schema = #"""
            CREATE SCHEMA sales;
            CREATE TABLE sales.orders (id serial PRIMARY KEY, customer text NOT NULL, total numeric(12,2),
                                       doubled int GENERATED ALWAYS AS (id * 2) STORED);
            CREATE TABLE "Odd ""Name""" (k2 text, k1 int, payload bytea, seen timestamptz, PRIMARY KEY (k2, k1));
            CREATE TABLE counters (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n bigint);
            """#
        let odd = "\"Odd \"\"Name\"\"\""
        let mirror = try Mirror.make("create", schema: schema, tables: ["sales.orders", odd, "counters"], slaves: [])
        try SQL.run(mirror.master, #"""
            INSERT INTO sales.orders (customer, total) SELECT 'c' || g, g * 1.5 FROM generate_series(1, 3000) g;
            INSERT INTO "Odd ""Name""" SELECT 'k ' || g, g, '\x00ff', '2024-02-29 13:14:15.5+05:45' FROM generate_series(1, 500) g;
            INSERT INTO counters (n) SELECT g FROM generate_series(1, 100) g;
            """#)
        let slave = try slaveDatabase(mirror, on: try Clusters.slave2)
        let copy = try Dbmirror.run(["add-host", "fresh", "--conninfo", slave, "--master", mirror.master,
                                     "--copy", "--create-tables"])
        #expect(copy.status == 0, "\(copy.stderr)")
        #expect(copy.stderr.contains("creating 3 table(s)"), "\(copy.stderr)")

        // Same columns, same keys.
        let keys = """
            SELECT string_agg(d, '; ' ORDER BY d) FROM (
                SELECT c.oid::regclass::text || ' ' || pg_get_constraintdef(k.oid) AS d
                FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                WHERE k.contype = 'p' AND c.oid IN ('sales.orders'::regclass, 'counters'::regclass, '\(odd)'::regclass)) s
            """
        #expect(try SQL.run(slave, keys) == SQL.run(mirror.master, keys))
        let withSlave = Mirror(name: mirror.name, master: mirror.master, slaves: [("fresh", slave)])
        try withSlave.expectSlavesEqual(["sales.orders", odd, "counters"])

        // Replay works on the created tables, sequences included.
        try SQL.run(mirror.master, #"""
            UPDATE sales.orders SET total = 0 WHERE id % 10 = 0;
            INSERT INTO sales.orders (customer) VALUES ('late');
            INSERT INTO counters (n) VALUES (7);
            DELETE FROM "Odd ""Name""" WHERE k1 < 50;
            """#)
        try mirror.replayOnceExpectingSuccess()
        try withSlave.expectSlavesEqual(["sales.orders", odd, "counters"])
        #expect(try SQL.run(slave, "SELECT last_value FROM sales.orders_id_seq") == "3001")
        let compared = try compare(mirror, ["--json"])
        #expect(compared.status == 0, "\(compared.stdout)\n\(compared.stderr)")
        let hosts = try JSONDecoder().decode([HostComparison].self, from: Data(compared.stdout.utf8))
        #expect(hosts.count == 1 && hosts[0].tables.count == 3 && hosts[0].isEqual)
    }

    @Test("compare names a changed, a missing and an extra row, and exits 1")
    func comparePlantedDifferences() throws {
        let schema = """
            CREATE TABLE items (id int PRIMARY KEY, name text, qty int);
            CREATE TABLE pairs (a int, b text, v text, PRIMARY KEY (a, b));
            """
        let mirror = try Mirror.make("planted", schema: schema, tables: ["items", "pairs"], slaves: [])
        try SQL.run(mirror.master, """
            INSERT INTO items SELECT g, 'item ' || g, g FROM generate_series(1, 20000) g;
            INSERT INTO pairs SELECT g, 'b' || g, 'v' FROM generate_series(1, 100) g;
            """)
        // The slave's columns in another order: compared by name.
        let slave = try slaveDatabase(mirror, on: try Clusters.slave1, schema: """
            CREATE TABLE items (qty int, name text, id int PRIMARY KEY);
            CREATE TABLE pairs (v text, b text, a int, PRIMARY KEY (a, b));
            """)
        let copy = try Dbmirror.run(["add-host", "slave1", "--conninfo", slave, "--master", mirror.master, "--copy"])
        #expect(copy.status == 0, "\(copy.stderr)")
        let equal = try compare(mirror)
        #expect(equal.status == 0, "\(equal.stdout)\n\(equal.stderr)")

        try SQL.run(slave, """
            UPDATE items SET qty = -1 WHERE id = 7;
            DELETE FROM items WHERE id = 9;
            INSERT INTO items VALUES (5, 'planted', 20001);
            UPDATE pairs SET v = NULL WHERE a = 3;
            """)
        // A master change queued meanwhile is applied before comparing, not reported.
        try SQL.run(mirror.master, "UPDATE items SET name = 'renamed' WHERE id = 100;")
        let different = try compare(mirror)
        #expect(different.status == 1, "\(different.stdout)\n\(different.stderr)")
        let out = different.stdout
        #expect(out.contains("slave1  public.items  different: master 20000 rows, slave 20000 rows; 1 changed, 1 missing on slave, 1 extra on slave"), "\(out)")
        #expect(out.contains("    changed: (id)=(7)"), "\(out)")
        #expect(out.contains("    missing on slave: (id)=(9)"), "\(out)")
        #expect(out.contains("    extra on slave: (id)=(20001)"), "\(out)")
        #expect(out.contains("    changed: (a, b)=(3,b3)"), "\(out)")
        #expect(!out.contains("(id)=(100)"), "the queued change was reported instead of applied:\n\(out)")
        #expect(try SQL.run(slave, "SELECT name FROM items WHERE id = 100") == "renamed")

        let onlyPairs = try compare(mirror, ["--table", "pairs", "--json"])
        #expect(onlyPairs.status == 1)
        let hosts = try JSONDecoder().decode([HostComparison].self, from: Data(onlyPairs.stdout.utf8))
        #expect(hosts.first?.tables.map(\.table) == ["public.pairs"])
        #expect(hosts.first?.tables.first?.changed == TableComparison.Keys(count: 1, sample: ["(a, b)=(3,b3)"]))

        let unknown = try compare(mirror, ["--table", "nosuch"])
        #expect(unknown.status == 2 && unknown.stderr.contains("the master has no table 'nosuch'"), "\(unknown.stderr)")
        let unknownHost = try compare(mirror, ["--host", "nobody"])
        #expect(unknownHost.status == 2, "\(unknownHost.stderr)")

        // A copy again repairs the slave.
        let again = try Dbmirror.run(["add-host", "slave1", "--conninfo", slave, "--master", mirror.master, "--copy"])
        #expect(again.status == 0, "\(again.stderr)")
        let repaired = try compare(mirror)
        #expect(repaired.status == 0, "\(repaired.stdout)\n\(repaired.stderr)")
    }

    @Test("compare sees differences only the text form shows: numeric scale, -0, interval units; equal values of every kind are equal")
    func compareTextExact() throws {
        let schema = """
            CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
            CREATE DOMAIN code AS varchar(10);
            CREATE TABLE kinds (id bigint PRIMARY KEY, n numeric, f float8, i interval, j jsonb, t timestamptz,
                                d date, a int[], m mood, c code, b bytea, u uuid, x text COLLATE "C", ok boolean);
            """
        let mirror = try Mirror.make("kinds", schema: schema, tables: ["kinds"], slaves: [])
        try SQL.run(mirror.master, """
            INSERT INTO kinds SELECT g, g * 1.50, g / 3.0, (g || ' days')::interval, jsonb_build_object('k', g),
                   '2024-01-01 00:00+00'::timestamptz + g * interval '1 hour', '2024-01-01'::date + g,
                   ARRAY[g, NULL], (ARRAY['sad', 'ok', 'happy'])[g % 3 + 1]::mood, 'c' || g, '\\x0102', gen_random_uuid(),
                   'x' || g, g % 2 = 0
            FROM generate_series(1, 1000) g;
            UPDATE kinds SET f = 0 WHERE id = 2;
            """)
        // Another enum order and oids on the slave: compared as text.
        let slave = try slaveDatabase(mirror, on: try Clusters.slave2, schema: schema.replacingOccurrences(
            of: "ENUM ('sad', 'ok', 'happy')", with: "ENUM ('happy', 'ok', 'sad', 'other')"))
        let copy = try Dbmirror.run(["add-host", "slave2", "--conninfo", slave, "--master", mirror.master, "--copy"])
        #expect(copy.status == 0, "\(copy.stderr)")
        let equal = try compare(mirror)
        #expect(equal.status == 0, "\(equal.stdout)\n\(equal.stderr)")

        // Each of these is equal by the type's own = but prints otherwise.
        try SQL.run(slave, """
            UPDATE kinds SET n = 1.5 WHERE id = 1;
            UPDATE kinds SET f = '-0' WHERE id = 2;
            UPDATE kinds SET i = '24 hours' WHERE id = 3;
            UPDATE kinds SET t = t AT TIME ZONE 'UTC' AT TIME ZONE 'Asia/Kathmandu' WHERE id = 4;
            """)
        let different = try compare(mirror)
        #expect(different.status == 1, "\(different.stdout)\n\(different.stderr)")
        #expect(different.stdout.contains("4 changed"), "\(different.stdout)")
        for id in 1...3 {
            #expect(different.stdout.contains("    changed: (id)=(\(id))"), "\(different.stdout)")
        }
    }

    @Test("a copy interrupted by SIGINT, then by SIGKILL, starts over cleanly and ends equal")
    func interruptedCopy() throws {
        let schema = "CREATE TABLE big (id int PRIMARY KEY, pad text, n int); CREATE TABLE small (id int PRIMARY KEY);"
        let mirror = try Mirror.make("interrupt", schema: schema, tables: ["small", "big"], slaves: [])
        try SQL.run(mirror.master, """
            INSERT INTO small SELECT generate_series(1, 10);
            INSERT INTO big SELECT g, md5(g::text), g FROM generate_series(1, 1000000) g;
            ANALYZE big;
            """, timeout: 600)
        let slave = try slaveDatabase(mirror, on: try Clusters.slave2, schema: schema)
        // A stale row and a stale progress row the copy must replace.
        try SQL.run(slave, "INSERT INTO small VALUES (999);")
        let arguments = ["add-host", "slave2", "--conninfo", slave, "--master", mirror.master, "--copy"]

        for signal in [SIGINT, SIGKILL] {
            let copy = try Dbmirror.start(arguments)
            let deadline = Date().addingTimeInterval(120)
            while copy.isRunning && !copy.currentStderr().contains("copying public.big") && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.01)
            }
            Thread.sleep(forTimeInterval: 0.3)
            #expect(copy.isRunning, "the copy ended before it could be interrupted:\n\(copy.currentStderr())")
            copy.kill(signal)
            let out = try copy.wait(timeout: 60)
            if signal == SIGINT {
                #expect(out.status == 1, "\(out.stderr)")
                #expect(out.stderr.contains("interrupted while copying public.big"), "\(out.stderr)")
                #expect(out.stderr.contains("run add-host --copy again"), "\(out.stderr)")
            } else {
                #expect(out.status == 128 + SIGKILL)
            }
            // Registered, with no starting point: no replayer touches the slave.
            #expect(try progress(slave) == "")
            #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "MirrorHost""#) == 1)
            #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "MirroredTransaction""#) == 0)
            #expect(try SQL.count(slave, "SELECT count(*) FROM big") == 0, "a rolled-back copy left rows")
            let replay = try mirror.replayOnce()
            #expect(replay.status == 1 && replay.stderr.contains("no dbmirror.progress row"), "\(replay.stderr)")
            try SQL.run(mirror.master, "UPDATE big SET n = -n WHERE id % 100000 = 0; INSERT INTO small VALUES (\(11 + signal));")
        }

        let copy = try Dbmirror.run(arguments, timeout: 600)
        #expect(copy.status == 0, "\(copy.stderr)")
        #expect(!(try progress(slave)).isEmpty)
        try SQL.run(mirror.master, "DELETE FROM big WHERE id <= 10; INSERT INTO small VALUES (100);")
        try mirror.replayOnceExpectingSuccess()
        let withSlave = Mirror(name: mirror.name, master: mirror.master, slaves: [("slave2", slave)])
        try withSlave.expectSlavesEqual(["small", "big"])
        let compared = try compare(mirror)
        #expect(compared.status == 0, "\(compared.stdout)\n\(compared.stderr)")
    }

    @Test("copy-table gives a table mirrored later to a slave while replication and writes go on")
    func copyTableWhileReplicating() throws {
        let schema = "CREATE TABLE a (id int PRIMARY KEY, n int);"
        let mirror = try Mirror.make("copytable", schema: schema, tables: ["a"], slaves: [])
        try SQL.run(mirror.master, "INSERT INTO a SELECT g, 0 FROM generate_series(1, 1000) g;")
        let slave = try slaveDatabase(mirror, on: try Clusters.slave1, schema: schema)
        let copy = try Dbmirror.run(["add-host", "slave1", "--conninfo", slave, "--master", mirror.master, "--copy"])
        #expect(copy.status == 0, "\(copy.stderr)")

        let run = try Dbmirror.start(["run", "--master", mirror.master])
        defer { if run.isRunning { run.kill(SIGKILL); _ = try? run.wait(timeout: 10) } }
        try SQL.run(mirror.master, """
            CREATE TABLE b (id int PRIMARY KEY, v text, n int);
            INSERT INTO b SELECT g, 'before', 0 FROM generate_series(1, 20000) g;
            SELECT dbmirror_add_table('b');
            """)
        let writes = try script("""
            \\set x random(1, 1000)
            \\set y random(1, 20000)
            BEGIN;
            UPDATE a SET n = n + 1 WHERE id = :x;
            UPDATE b SET n = n + 1, v = 'after' WHERE id = :y;
            INSERT INTO b VALUES (20000 + :x * 1000 + :y % 1000, 'new', 0) ON CONFLICT (id) DO UPDATE SET n = b.n + 1;
            COMMIT;
            """)
        defer { try? FileManager.default.removeItem(at: writes) }
        let bench = try Writer(script: writes, master: mirror.master)
        Thread.sleep(forTimeInterval: 1.5)
        let copied = try Dbmirror.run(["copy-table", "b", "--host", "slave1", "--create-table", "--master", mirror.master])
        #expect(copied.status == 0, "\(copied.stderr)")
        #expect(copied.stderr.contains("copied public.b ("), "\(copied.stderr)")
        #expect(bench.isRunning, "the writer stopped before copy-table ended: \(bench.stop().stderr)")
        Thread.sleep(forTimeInterval: 1)
        bench.stop()

        run.kill(SIGINT)
        let runOutput = try run.wait(timeout: 60)
        #expect(runOutput.status == 0, "\(runOutput.stderr.suffix(3000))")
        let compared = try compare(mirror)
        #expect(compared.status == 0, "\(compared.stdout)\n\(compared.stderr)")
        let withSlave = Mirror(name: mirror.name, master: mirror.master, slaves: [("slave1", slave)])
        try withSlave.expectSlavesEqual(["a", "b"])
        // Every committed update of a reached the slave once: the sums agree.
        #expect(try SQL.run(slave, "SELECT sum(n) FROM a") == SQL.run(mirror.master, "SELECT sum(n) FROM a"))
    }

    /// pgbench running a script on two clients until stopped. (Not `-T`:
    /// pgbench times that with SIGALRM, which a child of the test process
    /// may inherit blocked.) Stopping it kills it: its open transactions
    /// roll back, which is what a master sees every day.
    private final class Writer {
        let process: RunningCommand

        init(script: URL, master: String) throws {
            process = try Command.start("pgbench", ["-n", "-c", "2", "-j", "2", "-t", "10000000", "--max-tries", "100",
                                                    "-f", script.path, master])
        }

        var isRunning: Bool { process.isRunning }

        @discardableResult
        func stop() -> CommandOutput {
            if process.isRunning { process.kill(SIGKILL) }
            return (try? process.wait(timeout: 30)) ?? CommandOutput(status: -1, stdout: "", stderr: "")
        }

        deinit { stop() }
    }

    @Test("the differing keys of one bucket: changed, missing and extra, counted and sampled")
    func bucketArithmetic() {
        let master: [Int: BucketDiff.Summary] = [1: .init(rows: 2, hashSum: "10"), 2: .init(rows: 1, hashSum: "5")]
        let slave: [Int: BucketDiff.Summary] = [1: .init(rows: 2, hashSum: "10"), 2: .init(rows: 1, hashSum: "6"),
                                                3: .init(rows: 1, hashSum: "1")]
        #expect(BucketDiff.differingBuckets(master: master, slave: slave) == [2, 3])

        var differences = BucketDiff.Differences(sampleLimit: 2)
        let row = { (key: String, hash: String) in BucketDiff.Row(bucket: 0, key: key, hash: hash) }
        differences.add(master: [row("(1)", "a"), row("(2)", "b"), row("(3)", "c"), row("(4)", "d"), row("(5)", "e")],
                        slave: [row("(1)", "a"), row("(2)", "x"), row("(6)", "f")])
        #expect(differences.changed == BucketDiff.KeySample(count: 1, keys: ["(2)"]))
        #expect(differences.extraOnSlave == BucketDiff.KeySample(count: 1, keys: ["(6)"]))
        #expect(differences.missingOnSlave == BucketDiff.KeySample(count: 3, keys: ["(3)", "(4)"]))
        var none = BucketDiff.Differences()
        none.add(master: [row("(1)", "a")], slave: [row("(1)", "a")])
        #expect(none.isEmpty)
    }
}
