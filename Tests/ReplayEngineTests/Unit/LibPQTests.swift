import Foundation
import LibPQ
import Logging
import Testing

/// The libpq wrapper against a live server (the shared test master).
@Suite("LibPQ wrapper on a live server", .serialized)
struct LibPQTests {
    private let logger = Logger(label: "libpq-test")

    private func connect() throws -> Connection {
        try Connection(conninfo: try Clusters.master.conninfo, logger: logger)
    }

    @Test("text parameters: NULL and empty stay distinct, values are never pasted into SQL")
    func parameters() throws {
        let c = try connect()
        let r = try c.execute("SELECT $1::text IS NULL, $2::text = '', $3::text, length($3)", [nil, "", "it's \"x\"; DROP"])
        #expect(r.string(row: 0, column: 0) == "t")
        #expect(r.string(row: 0, column: 1) == "t")
        #expect(r.string(row: 0, column: 2) == "it's \"x\"; DROP")
        #expect(r.isNull(row: 0, column: 0) == false)
        let bytes = r.withValueBytes(row: 0, column: 2) { $0.map { Array($0) } }
        #expect(bytes == Array("it's \"x\"; DROP".utf8))
        #expect(throws: PostgresError.self) { try c.execute("SELECT $1::text", ["nul\u{0}byte"]) }
    }

    @Test("a server error carries SQLSTATE, message and detail; description leaves out the detail")
    func serverError() throws {
        let c = try connect()
        try c.executeScript("CREATE TEMP TABLE e (id int PRIMARY KEY); INSERT INTO e VALUES (1)")
        let error = #expect(throws: PostgresError.self) {
            try c.execute("INSERT INTO e VALUES ($1::int)", ["1"])
        }
        #expect(error?.kind == .server && error?.sqlState == "23505")
        #expect(error?.detail?.contains("(id)=(1)") == true)
        #expect(error?.description.contains("(id)=(1)") == false)
        #expect(error?.debugDescription.contains("(id)=(1)") == true)
        // The connection is still usable.
        #expect(try c.execute("SELECT 1").scalar == "1")
    }

    @Test("a pipeline reports each statement's result; after a failure the rest are aborted")
    func pipeline() throws {
        let c = try connect()
        try c.executeScript("CREATE TEMP TABLE p (id int PRIMARY KEY)")
        let results = try c.executePipeline([
            ("BEGIN", []),
            ("INSERT INTO p VALUES ($1::int)", ["1"]),
            ("INSERT INTO p VALUES ($1::int)", ["1"]),
            ("INSERT INTO p VALUES ($1::int)", ["2"]),
        ])
        #expect(results.count == 4)
        guard results.count == 4 else { return }
        if case .success(let r) = results[1] { #expect(r.affectedRows == 1) } else { Issue.record("insert 1 should succeed") }
        if case .failure(let e) = results[2] { #expect(e.sqlState == "23505") } else { Issue.record("insert 2 should fail") }
        if case .aborted = results[3] {} else { Issue.record("insert 3 should be skipped") }
        try c.executeScript("ROLLBACK")
        #expect(!c.isInPipelineMode)
        #expect(try c.execute("SELECT count(*) FROM p").scalar == "0")
    }

    @Test("a long pipeline does not dead-lock on full sockets")
    func longPipeline() throws {
        let c = try connect()
        try c.enterPipelineMode()
        let count = 20_000
        for i in 0..<count {
            try c.sendQuery("SELECT $1::int, repeat('x', 200)", parameters: ParameterBuffer([String(i)]))
        }
        try c.pipelineSync()
        var seen = 0
        for _ in 0..<count {
            if case .success = try c.nextPipelineResult() { seen += 1 }
        }
        if case .sync = try c.nextPipelineResult() {} else { Issue.record("expected the sync") }
        try c.exitPipelineMode()
        #expect(seen == count)
    }

    @Test("COPY FROM STDIN stores the rows; a bad row's error names its line")
    func copy() throws {
        let c = try connect()
        try c.executeScript("CREATE TEMP TABLE cp (id int, v text)")
        try c.beginCopy("COPY cp (id, v) FROM STDIN")
        try Array("1\ta\\tb\n2\t\\N\n".utf8).withUnsafeBytes { (bytes: UnsafeRawBufferPointer) throws(any Error) -> Void in try c.putCopyData(bytes) }
        let done = try c.endCopy()
        #expect(done.affectedRows == 2)
        #expect(try c.execute("SELECT string_agg(id || '=' || coalesce(v, 'NULL'), ',' ORDER BY id) FROM cp").scalar == "1=a\tb,2=NULL")
        try c.beginCopy("COPY cp (id, v) FROM STDIN")
        try Array("3\tx\nnot a number\ty\n".utf8).withUnsafeBytes { (bytes: UnsafeRawBufferPointer) throws(any Error) -> Void in try c.putCopyData(bytes) }
        let error = #expect(throws: PostgresError.self) { try c.endCopy() }
        #expect(error?.sqlState == "22P02")
        #expect(error?.context?.contains("line 2") == true, "\(String(reflecting: error))")
    }

    @Test("notifications arrive, and waiting times out without them")
    func notifications() throws {
        let listener = try connect()
        let sender = try connect()
        try listener.listen(channel: "libpq test")
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try listener.waitForNotifications(timeout: .milliseconds(100)).isEmpty)
        #expect(clock.now - start >= .milliseconds(90))
        try sender.executeScript(#"NOTIFY "libpq test", 'hello'"#)
        var received: [LibPQ.Notification] = []
        for _ in 0..<50 where received.isEmpty {
            received = try listener.waitForNotifications(timeout: .milliseconds(100))
        }
        #expect(received.map(\.payload) == ["hello"])
        #expect(received.first?.channel == "libpq test")
    }

    @Test("a query started ahead is collected later")
    func startedQuery() throws {
        let c = try connect()
        try c.startQuery("SELECT $1::int * 2", parameters: ParameterBuffer(["21"]))
        c.readAvailableInput()
        #expect(try c.finishQuery(statement: nil).scalar == "42")
        try c.startQuery("SELECT 1/0")
        #expect(throws: PostgresError.self) { try c.finishQuery(statement: nil) }
        #expect(try c.execute("SELECT 2").scalar == "2")
    }

    @Test("a connection that cannot be made says why")
    func connectionFailure() {
        #expect {
            _ = try Connection(conninfo: "host=/nonexistent port=1 dbname=x connect_timeout=2", logger: logger)
        } throws: { error in
            guard let error = error as? PostgresError else { return false }
            return error.kind == .connectionFailed && error.isConnectionFailure && !error.message.contains("\n")
        }
    }
}
