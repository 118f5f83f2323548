import Foundation
import Testing

/// Every operation and every hard value reaches both slaves exactly.
@Suite("Replication end to end", .serialized)
struct ReplicationTests {
    /// A table name that needs every kind of quoting: `"Odd ""Table"""`.
    let oddTable = "\"Odd \"\"Table\"\"\""

    @Test("insert, update, delete and truncate reach both slaves")
    func everyOperation() throws {
        let mirror = try Mirror.make("ops", schema: """
            CREATE TABLE items (id int PRIMARY KEY, name text, qty int);
            CREATE TABLE other (k text PRIMARY KEY, v text);
            """, tables: ["items", "other"])

        try SQL.run(mirror.master, """
            INSERT INTO items SELECT g, 'item ' || g, g * 10 FROM generate_series(1, 500) g;
            INSERT INTO other VALUES ('a', 'x'), ('b', NULL);
            UPDATE items SET qty = qty + 1 WHERE id % 3 = 0;
            DELETE FROM items WHERE id % 7 = 0;
            BEGIN; UPDATE items SET name = NULL WHERE id = 1; DELETE FROM other WHERE k = 'b'; COMMIT;
            """)
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["items", "other"])
        #expect(try SQL.count(mirror.slave("slave1"), "SELECT count(*) FROM items") == 500 - 71)

        // TRUNCATE, then new rows in the same transaction.
        try SQL.run(mirror.master, """
            BEGIN; TRUNCATE items; INSERT INTO items VALUES (1, 'fresh', 1); COMMIT;
            TRUNCATE other;
            """)
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["items", "other"])
        #expect(try SQL.count(mirror.slave("slave2"), "SELECT count(*) FROM items") == 1)

        // Running again with nothing queued is a no-op that succeeds.
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["items", "other"])
    }

    @Test("hard values replicate exactly, whatever the master session's settings")
    func hardValues() throws {
        let schema = #"""
            CREATE TYPE pair AS (a int, b text);
            CREATE TABLE "Odd ""Table""" (
                id int PRIMARY KEY,
                "a""b" text,
                t text, b bytea, ia int[], ta text[], j json, jb jsonb,
                ts timestamp, tz timestamptz, iv interval, f8 float8, f4 real, n numeric,
                d date, r int4range, c pair, m money, bo boolean, u uuid
            );
            CREATE TABLE composite (k1 int, k2 text, v text, PRIMARY KEY (k1, k2));
            """#
        let mirror = try Mirror.make("values", schema: schema, tables: [oddTable, "composite"])
        try SQL.run(mirror.master, #"""
            SET DateStyle = 'SQL, DMY';
            SET TimeZone = 'Asia/Kathmandu';
            SET IntervalStyle = 'sql_standard';
            SET extra_float_digits = -3;
            SET bytea_output = 'escape';
            SET lc_monetary = 'C';
            INSERT INTO "Odd ""Table""" VALUES
              (1, 'q"uo''te', E'back\\slash \\\\ and '' quote = "x" ', '\x00ff10'::bytea,
               '{1,NULL,3}', '{"a b","c,d",NULL,"e\"f"}', '{"k": [1, "x\"y"]}', '{"k": {"n": 1.50}}',
               '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.5+05:45', '1 year 2 mons -3 days 04:05:06.7',
               0.1::float8 + 0.2::float8, 3.14159274::real, 12345678901234567890.000000001,
               '0044-03-15 BC', '[3,7)', ROW(5, 'it''s'), 12.34, true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
              (2, '', '', '', '{}', '{}', 'null', '[]', 'infinity', '-infinity', '0', 'NaN', '-0', 'NaN',
               'epoch', 'empty', ROW(NULL, NULL), 0, false, NULL),
              (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL, NULL, NULL),
              (4, E'line1\nline2\ttab\r', 'multibyte: Grüße, 日本語, emoji 🐘', E'\\x5c27', NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, 1e300, 1e-30, 1e-30, NULL, NULL, NULL, NULL, NULL, NULL);
            INSERT INTO composite VALUES (1, 'a', 'one'), (1, 'b', 'two'), (2, 'a b', 'three'), (3, 'x''y', NULL);
            """#)
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual([oddTable, "composite"])

        // Key-changing updates, on a simple and on a composite key, and a swap of keys.
        try SQL.run(mirror.master, #"""
            SET DateStyle = 'German';
            UPDATE "Odd ""Table""" SET id = 10, tz = tz + interval '1 day' WHERE id = 1;
            UPDATE composite SET k2 = 'c' WHERE k1 = 1 AND k2 = 'b';
            UPDATE composite SET k1 = k1 + 100;
            BEGIN;
            UPDATE composite SET k2 = 'tmp' WHERE k1 = 101 AND k2 = 'a';
            UPDATE composite SET k2 = 'a' WHERE k1 = 101 AND k2 = 'c';
            UPDATE composite SET k2 = 'c' WHERE k1 = 101 AND k2 = 'tmp';
            COMMIT;
            DELETE FROM "Odd ""Table""" WHERE id = 3;
            """#)
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual([oddTable, "composite"])
        #expect(try SQL.run(mirror.slave("slave1"), "SELECT k2 || '=' || v FROM composite WHERE k1 = 101 ORDER BY k2") == "a=two\nc=one")
    }

    @Test("identity and generated columns, and a slave whose columns are in another order")
    func columnsOnTheSlave() throws {
        let masterSchema = """
            CREATE TABLE gen (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, a int, b int GENERATED ALWAYS AS (a * 2) STORED);
            """
        let mirror = try Mirror.make("columns", schema: masterSchema, tables: ["gen"])
        // Reorder the slave's columns: same names, other attnum order.
        for s in mirror.slaves {
            try SQL.run(s.conninfo, """
                DROP TABLE gen;
                CREATE TABLE gen (b int GENERATED ALWAYS AS (a * 2) STORED, a int, id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
                """)
        }
        try SQL.run(mirror.master, """
            INSERT INTO gen (a) SELECT g FROM generate_series(1, 100) g;
            UPDATE gen SET a = a + 1000 WHERE id <= 10;
            DELETE FROM gen WHERE id > 90;
            """)
        try mirror.replayOnceExpectingSuccess()
        for s in mirror.slaves {
            #expect(try SQL.run(s.conninfo, "SELECT string_agg(id || ':' || a || ':' || b, ',' ORDER BY id) FROM gen")
                    == SQL.run(mirror.master, "SELECT string_agg(id || ':' || a || ':' || b, ',' ORDER BY id) FROM gen"))
        }
        // Updates of rows from earlier transactions carry the key and the
        // changed columns ('U' when the one-column key stays), also when the
        // key is an identity or a generated column.
        let keyed = "CREATE TABLE genkey (a int NOT NULL, id int GENERATED ALWAYS AS (a * 2) STORED PRIMARY KEY, v text);"
        try SQL.run(mirror.master, keyed + " SELECT dbmirror_add_table('genkey');")
        for s in mirror.slaves { try SQL.run(s.conninfo, keyed) }
        try SQL.run(mirror.master, "INSERT INTO genkey (a, v) SELECT g, 'v' FROM generate_series(1, 20) g;")
        try mirror.replayOnceExpectingSuccess()
        for statement in ["UPDATE gen SET a = a + 1 WHERE id <= 5", "UPDATE genkey SET v = 'w' WHERE a <= 5",
                          "UPDATE genkey SET a = a + 100 WHERE a > 15"] {
            try SQL.run(mirror.master, statement)
        }
        #expect(try SQL.run(mirror.master, #"SELECT count(*) FILTER (WHERE "Op" = 'U') || ' U, ' || count(*) FILTER (WHERE "Op" = 'u') || ' u' FROM "Pending""#)
                == "10 U, 5 u")
        try mirror.replayOnceExpectingSuccess()
        try mirror.expectSlavesEqual(["genkey"])
        for s in mirror.slaves {
            #expect(try SQL.run(s.conninfo, "SELECT string_agg(id || ':' || a || ':' || b, ',' ORDER BY id) FROM gen")
                    == SQL.run(mirror.master, "SELECT string_agg(id || ':' || a || ':' || b, ',' ORDER BY id) FROM gen"))
        }
    }

    @Test("registered sequences reach the master's value on the slaves and never go back")
    func sequences() throws {
        let mirror = try Mirror.make("seq", schema: """
            CREATE TABLE s (id bigserial PRIMARY KEY, v text);
            CREATE SEQUENCE standalone;
            """, tables: ["s"])
        try SQL.run(mirror.master, """
            SELECT dbmirror_add_sequence('standalone');
            INSERT INTO s (v) SELECT 'x' FROM generate_series(1, 42);
            SELECT setval('standalone', 1000);
            """)
        try mirror.replayOnceExpectingSuccess()
        for s in mirror.slaves {
            #expect(try SQL.run(s.conninfo, "SELECT last_value FROM s_id_seq") == "42")
            #expect(try SQL.run(s.conninfo, "SELECT last_value FROM standalone") == "1000")
            // A slave that is ahead stays ahead.
            try SQL.run(s.conninfo, "SELECT setval('standalone', 5000)")
        }
        try SQL.run(mirror.master, "INSERT INTO s (v) VALUES ('y'); SELECT setval('standalone', 1001);")
        try mirror.replayOnceExpectingSuccess()
        for s in mirror.slaves {
            #expect(try SQL.run(s.conninfo, "SELECT last_value FROM standalone") == "5000")
            #expect(try SQL.run(s.conninfo, "SELECT last_value FROM s_id_seq") == "43")
        }
    }
}
