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
        let steps: [ApplyStep] = ApplyPlanner.sequential(changes, copyThreshold: 3).steps
        let expected: [ApplyStep] = [.copy([0, 1, 2, 3, 4]), .statement(5), .copy([6, 7, 8]),
                                     .statement(9), .statement(10), .statement(11), .statement(12)]
        #expect(steps == expected)
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
        let expected: [ApplyStep] = [.truncate([0, 1]), .truncate([2]), .statement(3), .truncate([4])]
        #expect(ApplyPlanner.sequential(changes, copyThreshold: 64).steps == expected)
        #expect(ApplyPlanner.netEffect(changes, traits: ["public.t": reorderable], copyThreshold: 64).steps == expected)
        #expect(ApplyPlanner.sequential([], copyThreshold: 64).steps.isEmpty)
    }

    private let reorderable = TableTraits(reorderable: true, primaryKey: ["id"])

    private func update(_ seq: Int64, _ table: String = "public.t", id: String, v: String, newID: String? = nil) -> Change {
        Change(seqID: seq, xid: UInt64(seq), table: table, operation: .update,
               key: row([("id", id)]), data: row([("id", newID ?? id), ("v", v)]))
    }

    private func delete(_ seq: Int64, _ table: String = "public.t", id: String) -> Change {
        Change(seqID: seq, xid: UInt64(seq), table: table, operation: .delete, key: row([("id", id)]))
    }

    private func insertRow(_ seq: Int64, _ table: String = "public.t", id: String, v: String) -> Change {
        Change(seqID: seq, xid: UInt64(seq), table: table, operation: .insert, data: row([("id", id), ("v", v)]))
    }

    /// The plan's changes as readable text, one per step item.
    private func describe(_ plan: ApplyPlan) -> [String] {
        func one(_ i: Int) -> String {
            let c = plan.changes[i]
            let id = (c.operation == .insert ? c.data : c.key).flatMap { r in r.index(ofColumnNamed: "id").flatMap { r.value(at: $0) } } ?? "?"
            let v = c.data.flatMap { r in r.index(ofColumnNamed: "v").flatMap { r.value(at: $0) } }.map { "=\($0)" } ?? ""
            return "\(c.operation)#\(c.seqID) \(c.table) \(id)\(v)"
        }
        return plan.steps.map { step in
            switch step {
            case .statement(let i): "one " + one(i)
            case .copy(let ids): "copy " + ids.map(one).joined(separator: ", ")
            case .truncate(let ids): "truncate " + ids.map(one).joined(separator: ", ")
            case .insertSet(let ids): "insertSet " + ids.map(one).joined(separator: ", ")
            case .updateSet(let ids): "updateSet " + ids.map(one).joined(separator: ", ")
            case .deleteSet(let ids): "deleteSet " + ids.map(one).joined(separator: ", ")
            }
        }
    }

    @Test("net effect: repeated changes to one row fold, keeping the first change's identity and the last row")
    func folding() {
        let changes = [
            insertRow(1, id: "1", v: "a"), update(2, id: "1", v: "b"), update(3, id: "1", v: "c"),   // insert 1=c
            update(4, id: "2", v: "x"), update(5, id: "2", v: "y"),                                  // update 2=y
            update(6, id: "3", v: "x"), delete(7, id: "3"),                                          // delete 3
            insertRow(8, id: "4", v: "gone"), delete(9, id: "4"),                                    // nothing
            delete(10, id: "5"), insertRow(11, id: "5", v: "again"),                                 // delete, then insert
        ]
        let plan = ApplyPlanner.netEffect(changes, traits: ["public.t": reorderable], copyThreshold: 64)
        // Wave one holds every row once; the re-insert of row 5 waits for wave two.
        #expect(describe(plan) == [
            "one insert#1 public.t 1=c",
            "one update#4 public.t 2=y",
            "deleteSet delete#6 public.t 3, delete#10 public.t 5",
            "one insert#11 public.t 5=again",
        ])
    }

    @Test("net effect groups tables, keeps each table's order, and leaves tables it may not reorder sequential")
    func grouping() {
        let changes = [
            update(1, "public.a", id: "1", v: "x"), insertRow(2, "public.h", id: "10", v: "h"),
            update(3, "public.a", id: "2", v: "y"), insertRow(4, "public.h", id: "11", v: "h"),
            update(5, "public.u", id: "1", v: "p"), update(6, "public.u", id: "1", v: "q"),
        ]
        let traits = ["public.a": reorderable, "public.h": reorderable,
                      "public.u": TableTraits(reorderable: false, primaryKey: ["id"])]
        let plan = ApplyPlanner.netEffect(changes, traits: traits, copyThreshold: 64)
        #expect(describe(plan) == [
            "updateSet update#1 public.a 1=x, update#3 public.a 2=y",
            "insertSet insert#2 public.h 10=h, insert#4 public.h 11=h",
            "one update#5 public.u 1=p",
            "one update#6 public.u 1=q",
        ])
    }

    @Test("net effect puts the tables with a COPY first: statements sent after it keep the slave busy")
    func copyTablesFirst() {
        let changes = [update(1, "public.a", id: "1", v: "x"), update(2, "public.a", id: "2", v: "y")]
            + (3...6).map { insertRow(Int64($0), "public.h", id: "\($0)", v: "h") }
            + [update(7, "public.a", id: "3", v: "z")]
        let traits = ["public.a": reorderable, "public.h": reorderable]
        let plan = ApplyPlanner.netEffect(changes, traits: traits, copyThreshold: 3)
        #expect(describe(plan) == [
            "copy insert#3 public.h 3=h, insert#4 public.h 4=h, insert#5 public.h 5=h, insert#6 public.h 6=h",
            "updateSet update#1 public.a 1=x, update#2 public.a 2=y, update#7 public.a 3=z",
        ])
    }

    @Test("net effect on random histories of a few rows leaves what the master's order leaves, with no step failing")
    func randomHistories() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            // Rows 1...3 exist before the chunk; 1...5 are touched.
            var master: [String: String] = ["1": "a", "2": "b", "3": "c"]
            let before = master
            var changes: [Change] = []
            for seq in 1...Int64.random(in: 1...30, using: &generator) {
                let id = String(Int.random(in: 1...5, using: &generator))
                let value = "v\(seq)"
                if master[id] == nil {
                    changes.append(insertRow(seq, id: id, v: value))
                    master[id] = value
                } else if Bool.random(using: &generator) {
                    changes.append(update(seq, id: id, v: value))
                    master[id] = value
                } else {
                    changes.append(delete(seq, id: id))
                    master[id] = nil
                }
            }
            let plan = ApplyPlanner.netEffect(changes, traits: ["public.t": reorderable], copyThreshold: 3)
            var slave = before
            var failed = false
            for step in plan.steps {
                let indices: [Int]
                switch step {
                case .statement(let i): indices = [i]
                case .copy(let ids), .truncate(let ids), .insertSet(let ids), .updateSet(let ids), .deleteSet(let ids):
                    indices = ids
                    // One set statement touches each row once.
                    let ids = ids.compactMap { plan.changes[$0].key?.value(at: 0) ?? plan.changes[$0].data?.value(at: 0) }
                    if Set(ids).count != ids.count { failed = true }
                }
                for i in indices {
                    let change = plan.changes[i]
                    let id = (change.key ?? change.data)?.value(at: 0) ?? ""
                    switch change.operation {
                    case .insert: if slave[id] != nil { failed = true }; slave[id] = change.data?.value(at: 1)
                    case .update: if slave[id] == nil { failed = true }; slave[id] = change.data?.value(at: 1)
                    case .delete: if slave[id] == nil { failed = true }; slave[id] = nil
                    case .truncate: slave = [:]
                    }
                }
            }
            #expect(!failed && slave == master, "history \(changes.map(\.location.description)) planned as \(describe(plan))")
            if failed || slave != master { return }
        }
    }

    @Test("updates that carry only the columns they changed fold over the row: random histories end as in master order")
    func partialUpdateHistories() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            // Rows 1...3 exist before the chunk, columns a and b; 1...5 are touched.
            var master: [String: [String: String]] = ["1": ["a": "a1", "b": "b1"], "2": ["a": "a2", "b": "b2"],
                                                      "3": ["a": "a3", "b": "b3"]]
            let before = master
            var changes: [Change] = []
            for seq in 1...Int64.random(in: 1...30, using: &generator) {
                let id = String(Int.random(in: 1...5, using: &generator))
                if master[id] == nil {
                    let values = ["a": "a\(seq)", "b": "b\(seq)"]
                    changes.append(Change(seqID: seq, xid: UInt64(seq), table: "public.t", operation: .insert,
                                          data: row([("id", id), ("a", values["a"]), ("b", values["b"])])))
                    master[id] = values
                } else if Int.random(in: 0..<3, using: &generator) > 0 {
                    // The key and one or both of the columns, as the capture writes an update.
                    let changed = [["a"], ["b"], ["a", "b"]].randomElement(using: &generator)!
                    var pairs: [(String, String?)] = [("id", id)]
                    for column in changed {
                        pairs.append((column, "\(column)\(seq)"))
                        master[id]?[column] = "\(column)\(seq)"
                    }
                    changes.append(Change(seqID: seq, xid: UInt64(seq), table: "public.t", operation: .update,
                                          key: row([("id", id)]), data: row(pairs)))
                } else {
                    changes.append(delete(seq, id: id))
                    master[id] = nil
                }
            }
            let plan = ApplyPlanner.netEffect(changes, traits: ["public.t": reorderable], copyThreshold: 3)
            var slave = before
            var failed = false
            for change in plan.changes {
                let id = (change.key ?? change.data)?.value(at: 0) ?? ""
                let given = Dictionary((change.data?.columns ?? []).dropFirst().map { ($0.name, $0.value ?? "") },
                                       uniquingKeysWith: { $1 })
                switch change.operation {
                case .insert:
                    // An insert must carry the whole row.
                    if slave[id] != nil || given.count != 2 { failed = true }
                    slave[id] = given
                case .update:
                    if slave[id] == nil { failed = true }
                    slave[id]?.merge(given) { $1 }
                case .delete:
                    if slave[id] == nil { failed = true }
                    slave[id] = nil
                case .truncate: slave = [:]
                }
            }
            #expect(!failed && slave == master, "history \(changes.map(\.location.description)) planned as \(describe(plan))")
            if failed || slave != master { return }
        }
    }

    @Test("slaves of a shared batch reuse a chunk's plan only when their tables' traits and COPY threshold match")
    func sharedPlan() {
        let changes = [insertRow(1, id: "1", v: "a"), update(2, id: "1", v: "b"), update(3, id: "2", v: "c")]
        let shared = SharedPlan()
        var made = 0
        func plan(_ traits: [String: TableTraits], _ threshold: Int) -> ApplyPlan {
            shared.plan(traits: traits, copyThreshold: threshold) {
                made += 1
                return ApplyPlanner.netEffect(changes, traits: traits, copyThreshold: threshold)
            }
        }
        let first = plan(["public.t": reorderable], 64)
        let again = plan(["public.t": reorderable], 64)
        #expect(made == 1 && again.steps == first.steps && again.changes.map(\.seqID) == first.changes.map(\.seqID))
        // Another slave whose table is not reorderable gets its own (sequential) plan.
        let other = plan(["public.t": TableTraits(reorderable: false, primaryKey: ["id"])], 64)
        #expect(made == 2 && other.changes.count == 3)
        _ = plan(["public.t": reorderable], 2)
        #expect(made == 3)
    }

    @Test("a later row laid over an earlier one keeps the earlier columns it lacks")
    func overlay() {
        let earlier = row([("id", "1"), ("a", "x"), ("b", nil)])
        let later = row([("id", "1"), ("b", "y"), ("c", "z")])
        #expect(earlier.overlaid(with: later) == row([("id", "1"), ("a", "x"), ("b", "y"), ("c", "z")]))
        let same = row([("id", "1"), ("a", "q"), ("b", "r")])
        #expect(earlier.overlaid(with: same) == same)
    }

    @Test("a key-changing update keeps its table in master order")
    func keyChange() {
        let changes = [
            update(1, id: "a", v: "1", newID: "tmp"), update(2, id: "c", v: "2", newID: "a"),
            update(3, id: "tmp", v: "3", newID: "c"), update(4, id: "z", v: "4"),
        ]
        let plan = ApplyPlanner.netEffect(changes, traits: ["public.t": reorderable], copyThreshold: 64)
        #expect(plan.steps == [.statement(0), .statement(1), .statement(2), .statement(3)])
        #expect(plan.changes.map(\.seqID) == [1, 2, 3, 4])
    }

    @Test("a key that cannot be read from the rows keeps the table sequential")
    func unreadableKey() {
        let changes = [
            Change(seqID: 1, xid: 1, table: "public.t", operation: .update,
                   key: row([("other", "1")]), data: row([("other", "1"), ("v", "x")])),
            Change(seqID: 2, xid: 1, table: "public.t", operation: .update,
                   key: row([("other", "2")]), data: row([("other", "2"), ("v", "y")])),
        ]
        let plan = ApplyPlanner.netEffect(changes, traits: ["public.t": reorderable], copyThreshold: 64)
        #expect(plan.steps == [.statement(0), .statement(1)])
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

    @Test("a set-based update sets only the columns outside the key it is matched by")
    func setUpdateLeavesKeyOut() throws {
        let change = Change(seqID: 1, xid: 1, table: "public.t", operation: .update,
                            key: row([("id", "5")]), data: row([("id", "5"), ("v", "x"), ("g", "1")]))
        let t = table()
        let statement = try StatementBuilder.build(StatementBuilder.setKey(for: change, table: t), table: t, name: "s")
        #expect(statement.sql.hasPrefix(#"UPDATE "public"."t" AS t SET "v" = v.c1::text, "g" = v.c2::integer FROM (SELECT u.c1, u.c2, u.k1::integer AS k1, u.ord FROM unnest($1::text[], $2::text[], $3::text[])"#),
                "\(statement.sql)")
        #expect(statement.dataIndices == [1, 2] && statement.keyIndices == [0])
        var parameters = LibPQ.ParameterBuffer()
        statement.bindSet([change], [0], into: &parameters)
        #expect(parameters.values == [#"{"x"}"#, #"{"1"}"#, #"{"5"}"#])

        // A table of key columns only keeps them, so the set still sets something.
        let keyOnly = Change(seqID: 2, xid: 1, table: "public.t", operation: .update,
                             key: row([("id", "5")]), data: row([("id", "5")]))
        let keyOnlyStatement = try StatementBuilder.build(StatementBuilder.setKey(for: keyOnly, table: t), table: t, name: "s")
        #expect(keyOnlyStatement.sql.hasPrefix(#"UPDATE "public"."t" AS t SET "id" = v.c1::integer"#), "\(keyOnlyStatement.sql)")
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
