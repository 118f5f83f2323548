import LibPQ
import Logging
import Testing
@testable import ReplayEngine

/// Pairing a chunk's "Pending" rows with its "PendingData" rows, which the
/// rows query returns in the order its scan found them (real query results
/// from the shared test master, made up with VALUES).
@Suite("Queue reader: pairing a chunk with its key and data rows", .serialized)
struct QueuePairingTests {
    private func connect() throws -> Connection {
        try Connection(conninfo: try Clusters.master.conninfo, logger: Logger(label: "pairing-test"))
    }

    @Test("rows out of SeqId order are paired with their changes; rows of changes outside the chunk are skipped")
    func outOfOrderRows() throws {
        let c = try connect()
        let chunk = try c.execute("""
            SELECT * FROM (VALUES (10::bigint, '700'::text, 'public.t'::text, 'u'::text),
                                  (12, '700', 'public.t', 'i'),
                                  (15, '701', 'public.t', 'd')) AS p("SeqId", "XID", "TableName", "Op")
            """)
        // As a bitmap scan over pages written by two committing backends
        // might return them: 15 and 12 before 10, 11 and 14 not in the chunk.
        let rows = try c.execute("""
            SELECT * FROM (VALUES (15::bigint, true, '"id"=''5'' '::text),
                                  (12, false, '"id"=''2'' "v"=''b'' '),
                                  (11, false, '"id"=''9'' "v"=''skip'' '),
                                  (10, false, '"id"=''1'' "v"=''new'' '),
                                  (14, true, '"id"=''8'' '),
                                  (10, true, '"id"=''1'' ')) AS d("SeqId", "IsKey", "Data")
            """)
        let changes = try QueueReader.changes(chunk, rows: rows)
        #expect(changes.map(\.seqID) == [10, 12, 15])
        #expect(changes[0].operation == .update)
        #expect(changes[0].key?.value(at: 0) == "1")
        #expect(changes[0].data?.value(at: 1) == "new")
        #expect(changes[1].operation == .insert && changes[1].key == nil)
        #expect(changes[1].data?.value(at: 1) == "b")
        #expect(changes[2].operation == .delete && changes[2].data == nil)
        #expect(changes[2].key?.value(at: 0) == "5")
    }

    @Test("a change whose rows are missing is an error naming its SeqId")
    func missingRows() throws {
        let c = try connect()
        let chunk = try c.execute("""
            SELECT * FROM (VALUES (20::bigint, '800'::text, 'public.t'::text, 'u'::text)) AS p("SeqId", "XID", "TableName", "Op")
            """)
        let rows = try c.execute("""
            SELECT * FROM (VALUES (21::bigint, true, '"id"=''1'' '::text)) AS d("SeqId", "IsKey", "Data")
            """)
        let error = #expect(throws: ReplayError.self) { try QueueReader.changes(chunk, rows: rows) }
        #expect(error?.description.contains("SeqId 20") == true)
    }

    @Test("a 'U' update takes its key from the first pair of its new row, a NULL key's pair too")
    func keyLeadsData() throws {
        let c = try connect()
        let chunk = try c.execute("""
            SELECT * FROM (VALUES (30::bigint, '900'::text, 'public.t'::text, 'U'::text),
                                  (31, '900', 'public.t', 'U')) AS p("SeqId", "XID", "TableName", "Op")
            """)
        let rows = try c.execute("""
            SELECT * FROM (VALUES (31::bigint, false, '"k"= "v"=''x'' '::text),
                                  (30, false, '"i""d"=''it''''s'' "v"=''new'' "w"= ')) AS d("SeqId", "IsKey", "Data")
            """)
        let changes = try QueueReader.changes(chunk, rows: rows)
        #expect(changes.map(\.operation) == [.update, .update])
        #expect(changes[0].key?.count == 1)
        #expect(changes[0].key?.name(at: 0) == "i\"d")
        #expect(changes[0].key?.value(at: 0) == "it's")
        #expect(changes[0].data?.count == 3)
        #expect(changes[0].data?.value(at: 1) == "new")
        #expect(changes[1].key?.count == 1)
        #expect(changes[1].key?.name(at: 0) == "k")
        #expect(changes[1].key?.value(at: 0) == nil)
        #expect(changes[1].data?.value(at: 1) == "x")
    }

    @Test("a 'U' update with a key row, or with an empty or broken new row, is an error naming its SeqId")
    func malformedKeyLeadsData() throws {
        let c = try connect()
        let cases = [(#"'"id"=''1'' '"#, true, "has a key row"),
                     ("''", false, "lacks the key row"),
                     (#"'"id"=''1'"#, false, "byte offset 5")]
        for (data, withKeyRow, expected) in cases {
            let chunk = try c.execute("""
                SELECT * FROM (VALUES (40::bigint, '901'::text, 'public.t'::text, 'U'::text)) AS p("SeqId", "XID", "TableName", "Op")
                """)
            let keyRow = withKeyRow ? #"(40::bigint, true, '"id"=''1'' '::text), "# : ""
            let rows = try c.execute("""
                SELECT * FROM (VALUES \(keyRow)(40::bigint, false, \(data)::text)) AS d("SeqId", "IsKey", "Data")
                """)
            let error = #expect(throws: ReplayError.self) { try QueueReader.changes(chunk, rows: rows) }
            #expect(error?.description.contains("SeqId 40") == true, "\(error?.description ?? "")")
            #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
        }
    }
}
