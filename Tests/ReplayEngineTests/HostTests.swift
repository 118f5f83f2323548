import Foundation
import Testing

/// Hosts come and go; the queue is cleaned once every host has what it holds.
@Suite("Hosts, status and cleaning", .serialized)
struct HostTests {
    @Test("clean keeps what a host still needs, and drops it once that host is removed (a large queue by TRUNCATE)")
    func removedHostAndClean() throws {
        let mirror = try Mirror.make("clean", schema: "CREATE TABLE t (id int PRIMARY KEY, v text);", tables: ["t"])
        // More changes than the TRUNCATE threshold (10,000).
        try SQL.run(mirror.master, "INSERT INTO t SELECT g, 'v' FROM generate_series(1, 10050) g;")

        let r = try mirror.replayOnce(["--host", "slave1"])
        #expect(r.status == 0, "\(r.stderr)")
        try mirror.expectSlavesEqual(["t"], only: ["slave1"])
        #expect(try SQL.count(mirror.slave("slave2"), "SELECT count(*) FROM t") == 0, "--host must limit the replay")

        let clean = try Dbmirror.run(["clean", "--master", mirror.master])
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(clean.stdout.contains("deleted 0 applied change(s)"), "\(clean.stdout)")
        #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "Pending""#) == 10050, "slave2 still needs the queue")

        let removed = try Dbmirror.run(["remove-host", "slave2", "--master", mirror.master])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "MirrorHost""#) == 1)
        let clean2 = try Dbmirror.run(["clean", "--master", mirror.master])
        #expect(clean2.status == 0, "\(clean2.stderr)")
        #expect(clean2.stdout.contains("emptied the queue with TRUNCATE"), "\(clean2.stdout)")
        #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "Pending""#) == 0)
        #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "PendingData""#) == 0)

        // Replaying goes on for the remaining host only; a small queue goes by DELETE.
        try SQL.run(mirror.master, "UPDATE t SET v = 'w' WHERE id < 10;")
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["t"], only: ["slave1"])
        #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "Pending""#) == 0)
    }

    @Test("cleanup waits for a host registration in progress and keeps what the new host needs")
    func cleanupWaitsForRegistration() throws {
        let mirror = try Mirror.make("regrace", schema: "CREATE TABLE t (id int PRIMARY KEY);", tables: ["t"],
                                     slaves: [try Clusters.slave1])
        // A registration that stays open for a while: its start snapshot is taken now.
        let registration = try Command.start("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", mirror.master, "-f", "-"], input: #"""
            BEGIN;
            INSERT INTO "MirrorHost" ("HostName", "ConnInfo") VALUES ('late', 'host=/nonexistent');
            SELECT pg_sleep(3);
            COMMIT;
            """#)
        Thread.sleep(forTimeInterval: 0.7)
        // A change committed after the new host's snapshot, and applied by slave1.
        try SQL.run(mirror.master, "INSERT INTO t VALUES (1);")
        let r = try mirror.replayOnce(["--host", "slave1"])
        #expect(r.status == 0, "\(r.stderr)")
        let clean = try Dbmirror.run(["clean", "--master", mirror.master])
        #expect(clean.status == 0, "\(clean.stderr)")
        let registered = try registration.wait(timeout: 60)
        #expect(registered.status == 0, "\(registered.stderr)")
        #expect(try SQL.count(mirror.master, #"SELECT count(*) FROM "Pending""#) == 1,
                "the change the late host still needs was cleaned away")
    }

    @Test("a host registered by hand with SQL is replayed to like one added with add-host")
    func hostAddedBySQL() throws {
        let mirror = try Mirror.make("sqlhost", schema: "CREATE TABLE t (id int PRIMARY KEY, v text);", tables: ["t"],
                                     slaves: [try Clusters.slave1])
        let extraDB = mirror.name + "_x"
        let slave2 = try Clusters.slave2
        try SQL.run(slave2.conninfo, "CREATE DATABASE \(extraDB);")
        let conninfo = slave2.conninfo(database: extraDB)
        try SQL.run(conninfo, "CREATE TABLE t (id int PRIMARY KEY, v text);")
        try SQL.run(mirror.master, #"INSERT INTO "MirrorHost" ("HostName", "ConnInfo") VALUES ('byhand', '\#(conninfo)');"#)
        try SQL.run(mirror.master, "INSERT INTO t VALUES (1, 'a'), (2, 'b');")
        try mirror.replayOnceExpectingSuccess()
        #expect(try SQL.dump(conninfo, table: "t") == SQL.dump(mirror.master, table: "t"))
    }

    @Test("status reports each host's state and never shows a password")
    func status() throws {
        let mirror = try Mirror.make("status", schema: "CREATE TABLE t (id int PRIMARY KEY);", tables: ["t"])
        try SQL.run(mirror.master, #"UPDATE "MirrorHost" SET "ConnInfo" = "ConnInfo" || ' password=sekret99' WHERE "HostName" = 'slave2';"#)
        try SQL.run(mirror.master, "INSERT INTO t SELECT generate_series(1, 10);")
        let before = try Dbmirror.run(["status", "--master", mirror.master, "--json"])
        #expect(before.status == 0 || before.status == 1, "\(before.stderr)")
        #expect(!before.stdout.contains("sekret99") && !before.stderr.contains("sekret99"))
        let json = try JSONSerialization.jsonObject(with: Data(before.stdout.utf8))
        #expect(String(describing: json).contains("slave1"))

        _ = try mirror.replayOnce()
        let after = try Dbmirror.run(["status", "--master", mirror.master])
        #expect(after.status == 0, "\(after.stderr)")
        #expect(after.stdout.contains("slave1") && after.stdout.contains("slave2"))
        #expect(!after.stdout.contains("sekret99") && !after.stderr.contains("sekret99"))
    }

    @Test("a replayer refuses a queue in a newer format than it reads, and replays it once the format is one it knows")
    func newerQueueFormat() throws {
        let mirror = try Mirror.make("format", schema: "CREATE TABLE t (id int PRIMARY KEY, v text);", tables: ["t"])
        try SQL.run(mirror.master, "INSERT INTO t SELECT g, 'v' FROM generate_series(1, 10) g;")
        #expect(try SQL.run(mirror.master, "SELECT dbmirror_queue_format()") == "2")
        // A capture from the future, as far as this replayer can tell.
        try SQL.run(mirror.master, "CREATE OR REPLACE FUNCTION dbmirror_queue_format() RETURNS integer LANGUAGE sql AS 'SELECT 3';")
        let refused = try mirror.replayOnce()
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("writes queue format 3, but this dbmirror reads formats up to 2"), "\(refused.stderr)")
        for s in mirror.slaves {
            #expect(try SQL.count(s.conninfo, "SELECT count(*) FROM t") == 0, "\(s.host) was written to")
        }
        // The capture's own function back (as MirrorSetup.sql creates it): the queue replays.
        try SQL.run(mirror.master, """
            CREATE OR REPLACE FUNCTION dbmirror_queue_format() RETURNS integer
                AS '$libdir/pending', 'dbmirror_queue_format' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
            """)
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["t"])
    }
}
