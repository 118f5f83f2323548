import Foundation
import PendingDecoder
import Testing

/// Values of many types as a real server prints them, encoded by SQL that follows
/// docs/FORMAT.md, must decode to exactly the server's text.
@Suite("Server values")
struct ServerValueTests {
    /// Columns of the sample table: name (as the decoder must report it) and SQL type.
    static let columns: [(name: String, type: String)] = [
        ("int", "integer"), ("big", "bigint"), ("num", "numeric"), ("float", "double precision"),
        ("real", "real"), ("text", "text"), ("varchar", "varchar(40)"), ("char", "char(6)"), ("bool", "boolean"),
        ("date", "date"), ("ts", "timestamp"), ("tstz", "timestamptz"), ("interval", "interval"), ("time", "time"),
        ("timetz", "timetz"), ("bytea", "bytea"), ("json", "json"), ("jsonb", "jsonb"), ("int[]", "integer[]"),
        ("text[]", "text[]"), ("range", "int4range"), ("tstzrange", "tstzrange"), ("pair", "SCHEMA.pair"),
        ("pairs", "SCHEMA.pair[]"), ("uuid", "uuid"), ("inet", "inet"), ("point", "point"), ("money", "money"),
        ("tsvector", "tsvector"), ("bits", "bit varying"), (#"weird "name""#, "text"), ("with space", "text"),
        ("名前", "text"), ("a=b", "text"), ("it's", "text"),
    ]

    /// Rows of the sample table, as SQL expressions in column order.
    static let rows: [[String]] = [
        [
            "42", "-9223372036854775808", "3.14159265358979323846264338327950288", "0.1", "1.5e-7", "'plain'",
            "'var'", "'ab'", "true", "'2024-02-29'", "'2024-02-29 23:59:59.123456'",
            "'2024-06-01 12:00:00.5+02'", "'1 year 2 mons 3 days 04:05:06.7'", "'23:59:59.999999'",
            "'12:00:00-03:30'", #"'\x00ff27275c5c'::bytea"#, #"'{"a": [1, 2.50, null], "b\"": "x''y"}'"#,
            #"'{"a": [1, 2.50, null], "b\"": "x''y"}'"#, "'{1,NULL,3}'", #"ARRAY['a b', 'it''s', 'q"uote', 'back\slash', NULL, '']"#,
            "'[1,10)'", "'[2024-01-01 00:00+00, infinity)'", #"ROW(1, 'O''Brien "the" \ one')"#,
            #"ARRAY[ROW(1, 'a'), ROW(NULL, 'b,c'), ROW(3, NULL)]::SCHEMA.pair[]"#,
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'192.168.1.0/24'", "'(1.5,-2)'", "'1234.56'",
            #"'a fat cat''s \ mat'"#, "B'10110'", "'w'", "'s'", "'日本語'", "'='", "'q'",
        ],
        ["NULL"] + Array(repeating: "NULL", count: 34),
        [
            "0", "0", "'NaN'", "'-Infinity'", "'NaN'", "''", "''", "''", "false", "'-infinity'", "'infinity'",
            "'0001-01-01 00:00:00+00 BC'", "'-178000000 years'", "'00:00'", "'00:00+14'", "''::bytea", "'\"\"'",
            "'[]'", "'{}'", "'{\"\",\"NULL\",NULL,\"\\\\\"}'", "'empty'", "'empty'", "ROW(NULL, NULL)", "'{}'",
            "'00000000-0000-0000-0000-000000000000'", "'::1'", "'(0,0)'", "'-0.01'", "''", "B''", "''", "' '",
            "E'\\n'", "E'\\t'", "E'\\\\'",
        ],
        [
            "1", "1", "1e-20", "1e300", "3.4e38", #"E'line1\nline2\r\n\ttab ''quoted'' \"double\" \\backslash\\ = ; end '"#,
            #"E'\\\\'''"#, "''''", "true", "'1999-12-31'", "'1970-01-01 00:00:00'", "'1970-01-01 00:00:00+00'",
            "'-1 days +02:00:00'", "'12:34'", "'12:34:56+05:45'",
            "decode(repeat('00275c22', 1000), 'hex')", #"'{"nested": {"quote": "\"'' \\\\", "uni": "\u00e9\ud83d\ude00"}}'"#,
            #"'{"nested": {"quote": "\"'' \\\\", "uni": "\u00e9\ud83d\ude00"}}'"#, "ARRAY[[1,2],[3,4]]",
            #"ARRAY[E'new\nline', 'x,y', '{brace}', ' spaced ']"#, "'(,5]'", "'(2024-01-01 00:00+05:30,)'",
            #"ROW(-7, E'a\tb\nc,d(e)f\\g')"#, #"ARRAY[ROW(1, 'x"y')]::SCHEMA.pair[]"#,
            "'ffffffff-ffff-ffff-ffff-ffffffffffff'", "'2001:db8::ff00:42:8329/128'", "'(1e300,-1e-300)'",
            "'-92233720368547758.08'", "'''quoted'':1 \\\\back:2'", "B'1'",
            "repeat('it''s \\ \"q\" ', 10000) || '末尾'", "chr(1) || chr(127)",
            "(SELECT string_agg(chr(c), '') FROM generate_series(1, 127) AS c)",
            "(SELECT string_agg(chr(c), '') FROM generate_series(160, 2000) AS c)",
            "'𝄞😀\u{10FFFF}'",
        ],
    ]

    @Test("SQL-encoded rows of many types decode to the server's text of each value")
    func serverText() throws {
        try TestServer.with { server in
            let schema = "decoder_test_\(UInt32.random(in: 0...UInt32.max))"
            let sql = Self.script(schema: schema)
            let output: String
            do {
                output = try server.psql(sql)
            } catch {
                _ = try? server.psql("DROP SCHEMA IF EXISTS \(schema) CASCADE;")
                throw error
            }
            let lines = output.split(separator: "\n")
            #expect(lines.count == Self.rows.count)
            for line in lines {
                let fields = line.split(separator: "|", omittingEmptySubsequences: false)
                try #require(fields.count == 3)
                let rowID = Int(fields[0]) ?? -1
                let encoded = try #require(Self.hexDecode(fields[1]), "row \(rowID): bad hex")
                let expected: [[UInt8]?] = fields[2].split(separator: ",", omittingEmptySubsequences: false).map {
                    $0 == "NULL" ? nil : Self.hexDecode($0)
                }
                try #require(expected.count == Self.columns.count + 1)
                let row = try PendingRow(decoding: encoded)
                #expect(row.count == Self.columns.count + 1, "row \(rowID)")
                #expect(row.name(at: 0) == "row_id")
                for (index, column) in Self.columns.enumerated() {
                    #expect(row.name(at: index + 1) == column.name, "row \(rowID)")
                }
                for index in 0..<row.count {
                    let decoded = row.withUnsafeValueBytes(at: index) { $0.map(Array.init) }
                    // Compared as a Bool: a failure names the column and sizes, not 100 KB of bytes.
                    let same = decoded == expected[index]
                    #expect(
                        same,
                        """
                        row \(rowID), column \(row.name(at: index)): decoded \(decoded.map { "\($0.count) bytes" } ?? "NULL"), \
                        server \(expected[index].map { "\($0.count) bytes" } ?? "NULL")
                        """)
                }
                let reencoded = PendingEncoder.encodeBytes(row) == encoded
                #expect(reencoded, "row \(rowID) re-encodes differently")
                #expect(try walkedColumns(encoded) == row.columns, "row \(rowID)")
            }
        }
    }

    /// The SQL that builds the sample table and prints, per row: its id, the hex of
    /// its encoding, and the hex of each value's text (NULL for NULL), comma-separated.
    static func script(schema: String) -> String {
        func identifier(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
        let definitions = columns.map { identifier($0.name) + " " + $0.type.replacingOccurrences(of: "SCHEMA", with: schema) }
        let inserts = rows.enumerated().map { index, values in
            "INSERT INTO \(schema).samples VALUES (\(index + 1), "
                + values.map { $0.replacingOccurrences(of: "SCHEMA", with: schema) }.joined(separator: ", ") + ");"
        }
        let cells = (["row_id"] + columns.map(\.name)).enumerated().map { index, name in
            "(\(index), \(literal(name)), s.\(identifier(name))::text)"
        }
        return """
            SET client_min_messages = warning;
            SET DateStyle = 'ISO, YMD';
            SET IntervalStyle = postgres;
            SET extra_float_digits = 3;
            SET bytea_output = hex;
            SET lc_monetary = 'C';
            SET TimeZone = 'Asia/Kathmandu';
            SET standard_conforming_strings = on;
            CREATE SCHEMA \(schema);
            CREATE TYPE \(schema).pair AS (x integer, label text);
            CREATE TABLE \(schema).samples (row_id integer PRIMARY KEY, \(definitions.joined(separator: ", ")));
            \(inserts.joined(separator: "\n"))
            WITH cells AS (
                SELECT s.row_id, c.ord, c.name, c.value
                FROM \(schema).samples AS s
                CROSS JOIN LATERAL (VALUES \(cells.joined(separator: ", "))) AS c(ord, name, value)
            )
            SELECT row_id,
                encode(convert_to(string_agg(
                    format('"%s"=%s ', replace(name, '"', '""'),
                        CASE WHEN value IS NULL THEN ''
                             ELSE '''' || replace(replace(value, '\\', '\\\\'), '''', '''''') || '''' END),
                    '' ORDER BY ord), 'UTF8'), 'hex'),
                string_agg(coalesce(encode(convert_to(value, 'UTF8'), 'hex'), 'NULL'), ',' ORDER BY ord)
            FROM cells GROUP BY row_id ORDER BY row_id;
            DROP SCHEMA \(schema) CASCADE;
            """
    }

    static func hexDecode(_ hex: Substring) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8?
        for character in hex.utf8 {
            let nibble: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character - UInt8(ascii: "a") + 10
            default: return nil
            }
            if let value = high {
                bytes.append(value << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return high == nil ? bytes : nil
    }
}
