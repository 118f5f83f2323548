import Foundation
import Testing

/// A backlog is replayed in parts that end at the capture's marks
/// ("PendingMark", one every 32768 changes): each part is one slave
/// transaction and ends in a state the master had.
@Suite("Parts of a backlog", .serialized)
struct PartsTests {
    /// Commits one single-row transaction per statement, inside a procedure
    /// (each capture's transaction holds one change, so each may take a mark).
    static func transactions(_ statements: [String]) -> String {
        "DO $$ BEGIN " + statements.map { "\($0); COMMIT;" }.joined(separator: " ") + " END $$;"
    }

    /// 40 single-change transactions into `t` around SeqIds 32768 and
    /// 65536 (the sequence moved there), so the capture takes two marks.
    static func backlogAcrossTwoMarks(on master: String) throws {
        try SQL.run(master, #"SELECT setval('"Pending_SeqId_seq"', 32760);"#)
        try SQL.run(master, transactions((0..<20).map { "INSERT INTO t VALUES (\($0), 'a')" }))
        try SQL.run(master, #"SELECT setval('"Pending_SeqId_seq"', 65530);"#)
        try SQL.run(master, transactions((0..<20).map { "UPDATE t SET v = 'b' WHERE id = \($0)" }))
        #expect(try SQL.count(master, #"SELECT count(*) FROM "PendingMark""#) == 2)
    }

    /// The "applied batch" lines logged for one host.
    static func batches(in stderr: String, host: String) -> Int {
        stderr.split(separator: "\n").filter { $0.contains("applied batch") && $0.contains("host=\(host)") }.count
    }

    @Test("a backlog across two marks is replayed in three parts, shared by two slaves or to one alone; cleanup drops the used marks")
    func threeParts() throws {
        let mirror = try Mirror.make("parts", schema: "CREATE TABLE t (id int PRIMARY KEY, v text);", tables: ["t"])
        try Self.backlogAcrossTwoMarks(on: mirror.master)

        let shared = try mirror.replayOnce()
        #expect(shared.status == 0, "\(shared.stderr)")
        for host in ["slave1", "slave2"] {
            #expect(Self.batches(in: shared.stderr, host: host) == 3, "\(host) should take three parts:\n\(shared.stderr)")
        }
        try mirror.expectSlavesEqual(["t"])
        #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "PendingMark""#) == 0,
                "the cleanup after --once should drop marks both hosts are past")

        // One host alone (its own reader) takes the parts as well.
        try SQL.run(mirror.master, #"SELECT setval('"Pending_SeqId_seq"', 98300);"#)
        try SQL.run(mirror.master, Self.transactions((0..<10).map { "DELETE FROM t WHERE id = \($0)" }))
        let alone = try mirror.replayOnce(["--host", "slave1"])
        #expect(alone.status == 0, "\(alone.stderr)")
        #expect(Self.batches(in: alone.stderr, host: "slave1") == 2, "\(alone.stderr)")
        try mirror.expectSlavesEqual(["t"], only: ["slave1"])
        #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "PendingMark""#) == 1, "slave2 may still use it")
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["t"])
        #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "PendingMark""#) == 0)
    }

    @Test("a queue set up before marks captures without them; the replayer refuses it until MirrorSetup.sql runs again")
    func queueWithoutMarks() throws {
        let mirror = try Mirror.make("nomarks", schema: "CREATE TABLE t (id int PRIMARY KEY, v text);", tables: ["t"],
                                     slaves: [try Clusters.slave1])
        try SQL.run(mirror.master, #"DROP TABLE "PendingMark"; SELECT setval('"Pending_SeqId_seq"', 32760);"#)
        try SQL.run(mirror.master, Self.transactions((0..<20).map { "INSERT INTO t VALUES (\($0), 'a')" }))
        #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "Pending""#) == 20)

        let refused = try mirror.replayOnce()
        #expect(refused.status != 0)
        #expect(refused.stderr.contains(#"no "PendingMark" table"#) && refused.stderr.contains("MirrorSetup.sql"),
                "\(refused.stderr)")
        #expect(try SQL.count(mirror.slave("slave1"), "SELECT count(*) FROM t") == 0)

        try SQL.runFile(mirror.master, repositoryRoot.appendingPathComponent("extension/MirrorSetup.sql").path)
        let replayed = try mirror.replayOnce()
        #expect(replayed.status == 0, "\(replayed.stderr)")
        #expect(Self.batches(in: replayed.stderr, host: "slave1") == 1, "no marks were taken: one part")
        try mirror.expectSlavesEqual(["t"])
    }

    @Test("a far slave (over 2 ms of round trip) takes a backlog across marks in one slave transaction")
    func farSlaveTakesTheBacklogWhole() throws {
        let schema = "CREATE TABLE t (id int PRIMARY KEY, v text);"
        let mirror = try Mirror.make("farparts", schema: schema, tables: ["t"], slaves: [])
        let cluster = try Clusters.slave1
        try SQL.run(cluster.conninfo, "CREATE DATABASE \(mirror.name);")
        let direct = cluster.conninfo(database: mirror.name)
        try SQL.run(direct, schema)
        guard let port = direct.split(separator: " ").first(where: { $0.hasPrefix("port=") })?.dropFirst(5) else {
            throw HarnessError(description: "no port in \(direct)")
        }
        // 3 ms each way on loopback TCP (the benchmark's proxy).
        let proxy = try Command.start("python3", [
            repositoryRoot.appendingPathComponent("scripts/bench.d/delay_proxy.py").path,
            "--upstream", "127.0.0.1:\(port)", "--delay-ms", "3"])
        defer {
            proxy.kill(SIGTERM)
            _ = try? proxy.wait(timeout: 10)
        }
        var listening: Substring?
        for _ in 0..<500 where listening == nil {
            let out = (try? String(contentsOf: proxy.directory.appendingPathComponent("stdout"), encoding: .utf8)) ?? ""
            listening = out.split(separator: "\n").first { $0.hasPrefix("listening on ") }?.dropFirst(13)
            if listening == nil { Thread.sleep(forTimeInterval: 0.01) }
        }
        let proxyPort = try #require(listening, "the delay proxy did not start: \(proxy.currentStderr())")
        let far = "host=127.0.0.1 port=\(proxyPort) user=postgres dbname=\(mirror.name)"
        let added = try Dbmirror.run(["add-host", "far", "--conninfo", far, "--master", mirror.master])
        #expect(added.status == 0, "\(added.stderr)")

        try Self.backlogAcrossTwoMarks(on: mirror.master)

        let replayed = try mirror.replayOnce()
        #expect(replayed.status == 0, "\(replayed.stderr)")
        #expect(Self.batches(in: replayed.stderr, host: "far") == 1, "\(replayed.stderr)")
        try Mirror(name: mirror.name, master: mirror.master, slaves: [("far", direct)]).expectSlavesEqual(["t"])
    }

    @Test("a part leaves out a transaction that committed after its mark; a failure in the next part leaves the slave at the mark, and replay resumes there")
    func partIsAMasterState() throws {
        let mirror = try Mirror.make("partstate", schema: "CREATE TABLE t (id int PRIMARY KEY, v text);", tables: ["t"],
                                     slaves: [try Clusters.slave1])
        // A transaction that writes before the mark and commits after it.
        let long = try Command.start("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", mirror.master, "-f", "-"], input: """
            BEGIN;
            INSERT INTO t VALUES (1000, 'boom');
            SELECT pg_sleep(2);
            COMMIT;
            """)
        Thread.sleep(forTimeInterval: 0.7)
        try SQL.run(mirror.master, #"SELECT setval('"Pending_SeqId_seq"', 32760);"#)
        try SQL.run(mirror.master, Self.transactions((0..<20).map { "INSERT INTO t VALUES (\($0), 'a')" }))
        let committed = try long.wait(timeout: 60)
        #expect(committed.status == 0, "\(committed.stderr)")
        let mark = try SQL.run(mirror.master, #"SELECT "Snapshot"::text FROM "PendingMark""#)
        let inFirstPart = try SQL.count(mirror.master, #"""
            SELECT count(*) FROM "Pending" p, "PendingMark" m WHERE pg_visible_in_snapshot(p."XID", m."Snapshot")
            """#)
        #expect(inFirstPart > 0 && inFirstPart < 20, "the mark should fall among the small transactions (\(inFirstPart))")

        // The slave refuses the long transaction's row.
        try SQL.run(mirror.slave("slave1"), "ALTER TABLE t ADD CONSTRAINT refuse CHECK (v <> 'boom');")
        let failed = try mirror.replayOnce()
        #expect(failed.status == 1, "\(failed.stderr)")
        #expect(failed.stderr.contains("\"refuse\"") && failed.stderr.contains("id='1000'"), "\(failed.stderr)")
        #expect(try SQL.run(mirror.slave("slave1"), "SELECT snapshot::text FROM dbmirror.progress") == mark,
                "the slave should hold the first part, up to the mark")
        #expect(try SQL.count(mirror.slave("slave1"), "SELECT count(*) FROM t") == inFirstPart)
        #expect(try SQL.count(mirror.slave("slave1"), "SELECT count(*) FROM t WHERE id = 1000") == 0,
                "the transaction that committed after the mark must not be in the first part")

        try SQL.run(mirror.slave("slave1"), "ALTER TABLE t DROP CONSTRAINT refuse;")
        let resumed = try mirror.replayOnce()
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(Self.batches(in: resumed.stderr, host: "slave1") == 1, "\(resumed.stderr)")
        try mirror.expectSlavesEqual(["t"])
    }
}
