import Testing
@testable import ReplayEngine

@Suite("SQL text: identifiers, statements, COPY escaping")
struct SQLTextTests {
    @Test("identifiers are always quoted and embedded quotes doubled")
    func quoting() {
        #expect(SQLIdentifier.quote("items") == #""items""#)
        #expect(SQLIdentifier.quote("Order Lines") == #""Order Lines""#)
        #expect(SQLIdentifier.quote(#"a"b"#) == #""a""b""#)
        #expect(SQLIdentifier.quote(#"""#) == #""""""#)
        #expect(SQLIdentifier.quote("select") == #""select""#)
        #expect(SQLIdentifier.quote("Grüße") == "\"Grüße\"")
        #expect(SQLIdentifier.quote(schema: "my schema", name: #"t"1"#) == #""my schema"."t""1""#)
    }

    @Test("statements number their parameters data first, then key")
    func statements() {
        #expect(StatementText.insert(table: #""public"."t""#, columns: [#""a""#, #""b""#], overridingSystemValue: false)
                == #"INSERT INTO "public"."t" ("a", "b") VALUES ($1, $2)"#)
        #expect(StatementText.insert(table: "T", columns: [#""id""#], overridingSystemValue: true)
                == #"INSERT INTO T ("id") OVERRIDING SYSTEM VALUE VALUES ($1)"#)
        #expect(StatementText.update(table: "T", set: [#""a""#, #""b""#], key: [#""k1""#, #""k2""#])
                == #"UPDATE T SET "a" = $1, "b" = $2 WHERE "k1" = $3 AND "k2" = $4"#)
        #expect(StatementText.delete(table: "T", key: [#""k""#]) == #"DELETE FROM T WHERE "k" = $1"#)
        #expect(StatementText.replace(table: "T", columns: [(#""id""#, "integer"), (#""v""#, "text")], key: [#""id""#])
                == #"WITH old AS (DELETE FROM T WHERE "id" = $3 RETURNING *) INSERT INTO T ("id", "v") OVERRIDING SYSTEM VALUE SELECT $1::integer, $2::text FROM old"#)
        #expect(StatementText.replace(table: "T", columns: [(#""id""#, "integer")], kept: [#""v""#], key: [#""id""#])
                == #"WITH old AS (DELETE FROM T WHERE "id" = $2 RETURNING *) INSERT INTO T ("id", "v") OVERRIDING SYSTEM VALUE SELECT $1::integer, old."v" FROM old"#)
        #expect(StatementText.truncate(tables: [("A", false), ("P", true)]) == "TRUNCATE ONLY A, P")
        #expect(StatementText.copy(table: "T", columns: [#""a""#]) == #"COPY T ("a") FROM STDIN"#)
    }

    private func copyText(_ value: String?) -> String {
        var buffer: [UInt8] = []
        if var value {
            value.withUTF8 { CopyText.appendValue(UnsafeRawBufferPointer($0), to: &buffer) }
        } else {
            CopyText.appendValue(nil, to: &buffer)
        }
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test("COPY text escapes backslash, tab, newline and carriage return, and writes NULL as \\N")
    func copyEscaping() {
        #expect(copyText(nil) == #"\N"#)
        #expect(copyText("") == "")
        #expect(copyText(#"\N"#) == #"\\N"#, "a value that looks like NULL must not read as NULL")
        #expect(copyText("a\tb\nc\rd\\e") == #"a\tb\nc\rd\\e"#)
        #expect(copyText("plain 'quoted' \"x\" 日本") == "plain 'quoted' \"x\" 日本")
        #expect(copyText("\\.") == #"\\."#, "an end-of-data marker cannot appear in the data")
        #expect(copyText("\n\n") == #"\n\n"#)
    }

    @Test("a COPY error's context gives the failing data line")
    func copyLine() {
        #expect(CopyText.lineNumber(inContext: #"COPY t, line 17, column v: "x""#) == 17)
        #expect(CopyText.lineNumber(inContext: "COPY t, line 3") == 3)
        #expect(CopyText.lineNumber(inContext: "SQL function f") == nil)
        #expect(CopyText.lineNumber(inContext: nil) == nil)
    }
}

@Suite("Set-based statements and array parameters")
struct SetStatementTests {
    private func literal(_ values: [String?]) -> String {
        ArrayLiteral.text(values)
    }

    @Test("array literals quote every element and escape quotes and backslashes")
    func arrays() {
        #expect(literal([]) == "{}")
        #expect(literal(["a"]) == #"{"a"}"#)
        #expect(literal(["", nil, "NULL"]) == #"{"",NULL,"NULL"}"#, "empty, SQL NULL and the text NULL stay distinct")
        #expect(literal([#"q"uote"#, #"back\slash"#, "{,}", "new\nline"]) == "{\"q\\\"uote\",\"back\\\\slash\",\"{,}\",\"new\nline\"}")
    }

    @Test("set statements cast text arrays to the column types, match rows in key order and return positions")
    func text() {
        let columns = [(#""v""#, #""pg_catalog"."varchar""#)]
        let key = [(#""id""#, #""pg_catalog"."int4""#)]
        #expect(StatementText.updateSet(table: "T", set: columns, key: key)
                == #"UPDATE T AS t SET "v" = v.c1::"pg_catalog"."varchar" FROM (SELECT u.c1, u.k1::"pg_catalog"."int4" AS k1, u.ord FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(c1, k1, ord) ORDER BY 2) AS v WHERE t."id" = v.k1 RETURNING v.ord"#)
        #expect(StatementText.deleteSet(table: "T", key: key)
                == #"DELETE FROM T AS t USING (SELECT u.k1::"pg_catalog"."int4" AS k1, u.ord FROM unnest($1::text[]) WITH ORDINALITY AS u(k1, ord) ORDER BY 1) AS v WHERE t."id" = v.k1 RETURNING v.ord"#)
        let pair = [(#""a""#, "integer"), (#""b""#, "text")]
        #expect(StatementText.deleteSet(table: "T", key: pair)
                == #"DELETE FROM T AS t USING (SELECT u.k1::integer AS k1, u.k2::text AS k2, u.ord FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(k1, k2, ord) ORDER BY 1, 2) AS v WHERE t."a" = v.k1 AND t."b" = v.k2 RETURNING v.ord"#)
        #expect(StatementText.insertSet(table: "T", columns: key + columns, overridingSystemValue: true)
                == #"INSERT INTO T ("id", "v") OVERRIDING SYSTEM VALUE SELECT v.c1::"pg_catalog"."int4", v.c2::"pg_catalog"."varchar" FROM unnest($1::text[], $2::text[]) AS v(c1, c2)"#)
    }
}
