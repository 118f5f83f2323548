import LibPQ
import PendingDecoder
import Testing
@testable import ReplayEngine

@Suite("Apply planning and statement keys")
struct PlannerTests {
    private func row(_ pairs: [(String, String?)]) -> PendingRow {
        PendingRow(pairs.map { PendingColumn(name: $0.0, value: $0.1) })
    }

    private func insert(_ seq: Int64, _ table: String = "public.t", xid: UInt64 = 1, columns: [String] = ["id", "v"]) -> Change {
        Change(seqID: seq, xid: xid, table: table, operation: .insert,
               data: row(columns.map { ($0, "\(seq)") }))
    }

    @Test("long runs of same-shaped inserts become COPY, the rest single statements, in order")
    func copyRuns() {
        var changes = (1...5).map { insert($0) }
        changes.append(Change(seqID: 6, xid: 1, table: "public.t", operation: .delete, key: row([("id", "1")])))
        changes += (7...9).map { insert($0) }
        changes += (10...11).map { insert($0, columns: ["id"]) }
        changes += (12...13).map { insert($0, "public.u") }
        let steps = ApplyPlanner.steps(for: changes, copyThreshold: 3)
        #expect(steps == [.copy(0..<5), .statement(5), .copy(6..<9), .statement(9), .statement(10), .statement(11), .statement(12)])
    }

    @Test("consecutive truncates of one transaction are one step; of two transactions, two")
    func truncates() {
        let changes = [
            Change(seqID: 1, xid: 7, table: "public.a", operation: .truncate),
            Change(seqID: 2, xid: 7, table: "public.b", operation: .truncate),
            Change(seqID: 3, xid: 8, table: "public.c", operation: .truncate),
            insert(4, xid: 8),
            Change(seqID: 5, xid: 8, table: "public.a", operation: .truncate),
        ]
        #expect(ApplyPlanner.steps(for: changes, copyThreshold: 64) == [.truncate(0..<2), .truncate(2..<3), .statement(3), .truncate(4..<5)])
        #expect(ApplyPlanner.steps(for: [], copyThreshold: 64).isEmpty)
    }

    private func table(identity: Bool = false, generated: [String] = []) -> SlaveTable {
        var columns: [String: SlaveTable.Column] = [:]
        for name in ["id", "v", "g"] {
            columns[name] = .init(name: name, type: name == "v" ? "text" : "integer",
                                  identityAlways: identity && name == "id", generated: generated.contains(name))
        }
        return SlaveTable(masterName: "public.t", quotedName: #""public"."t""#, partitioned: false,
                          columns: columns, primaryKey: ["id"])
    }

    @Test("an update keeps an unchanged identity ALWAYS key out of SET, and becomes a replace when it changes")
    func identityUpdates() throws {
        let unchanged = Change(seqID: 1, xid: 1, table: "public.t", operation: .update,
                               key: row([("id", "5")]), data: row([("id", "5"), ("v", "x")]))
        let key = StatementBuilder.key(for: unchanged, table: table(identity: true))
        #expect(key.kind == .update && key.skipped == [0])
        let statement = try StatementBuilder.build(key, table: table(identity: true), name: "s")
        #expect(statement.sql == #"UPDATE "public"."t" SET "v" = $1 WHERE "id" = $2"#)
        #expect(statement.dataIndices == [1] && statement.keyIndices == [0] && statement.expectsOneRow)

        let changed = Change(seqID: 2, xid: 1, table: "public.t", operation: .update,
                             key: row([("id", "5")]), data: row([("id", "6"), ("v", "x")]))
        let replaceKey = StatementBuilder.key(for: changed, table: table(identity: true))
        #expect(replaceKey.kind == .replace)
        let replace = try StatementBuilder.build(replaceKey, table: table(identity: true), name: "s")
        #expect(replace.sql.hasPrefix(#"WITH old AS (DELETE FROM "public"."t" WHERE "id" = $3"#))
        #expect(replace.dataIndices == [0, 1] && replace.keyIndices == [0])

        // Without identity columns the key column is simply set.
        let plain = StatementBuilder.key(for: changed, table: table())
        #expect(plain.kind == .update && plain.skipped.isEmpty)
    }

    @Test("inserts map columns by name, leave generated columns to the slave, override identity ALWAYS")
    func inserts() throws {
        let change = Change(seqID: 1, xid: 1, table: "public.t", operation: .insert,
                            data: row([("g", "2"), ("v", "a"), ("id", "1")]))
        let t = table(identity: true, generated: ["g"])
        let statement = try StatementBuilder.build(StatementBuilder.key(for: change, table: t), table: t, name: "s")
        #expect(statement.sql == #"INSERT INTO "public"."t" ("v", "id") OVERRIDING SYSTEM VALUE VALUES ($1, $2)"#)
        #expect(statement.dataIndices == [1, 2] && statement.keyIndices.isEmpty && !statement.expectsOneRow)
    }

    @Test("a column the slave lacks is an error naming it")
    func missingColumn() {
        let change = Change(seqID: 1, xid: 1, table: "public.t", operation: .insert,
                            data: row([("id", "1"), ("extra", "x")]))
        #expect {
            try StatementBuilder.build(StatementBuilder.key(for: change, table: table()), table: table(), name: "s")
        } throws: { error in
            (error as? StatementBuilder.Mismatch)?.message.contains(#""extra""#) == true
        }
        let delete = Change(seqID: 2, xid: 1, table: "public.t", operation: .delete, key: row([("nokey", "1")]))
        #expect(throws: StatementBuilder.Mismatch.self) {
            try StatementBuilder.build(StatementBuilder.key(for: delete, table: table()), table: table(), name: "s")
        }
    }

    @Test("parameters bind NULL and empty values distinctly, data first then key")
    func binding() throws {
        let change = Change(seqID: 1, xid: 1, table: "public.t", operation: .update,
                            key: row([("id", "1")]), data: row([("id", "1"), ("v", nil), ("g", "")]))
        let t = table()
        let statement = try StatementBuilder.build(StatementBuilder.key(for: change, table: t), table: t, name: "s")
        #expect(statement.sql == #"UPDATE "public"."t" SET "id" = $1, "v" = $2, "g" = $3 WHERE "id" = $4"#)
        var parameters = LibPQ.ParameterBuffer()
        statement.bind(change, into: &parameters)
        #expect(parameters.count == 4)
        #expect(parameters.values == ["1", nil, "", "1"])
    }
}
