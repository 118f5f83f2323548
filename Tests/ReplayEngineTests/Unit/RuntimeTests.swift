import LibPQ
import PendingDecoder
import Testing
@testable import ReplayEngine

@Suite("Retry, wake-ups, connection strings, status output")
struct RuntimeTests {
    @Test("back-off doubles from one second to the ceiling and starts over after a reset")
    func backoff() {
        var b = Backoff(initial: .seconds(1), maximum: .seconds(60))
        let delays = (0..<9).map { _ in b.take() }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) })
        b.reset()
        #expect(b.take() == .seconds(1))
    }

    // The waits run on a thread of their own, as the replayer's host tasks do,
    // so end-to-end tests that block the shared pool cannot skew the timings.

    @Test("a signal before the wait makes it return at once; without one it times out")
    func wake() async {
        await onDedicatedThread(name: "wake-test") {
            let signal = WakeSignal()
            signal.signal()
            signal.signal()
            let clock = ContinuousClock()
            var start = clock.now
            #expect(await signal.wait(timeout: .seconds(60)), "the wait reports the signal")
            #expect(clock.now - start < .seconds(30), "a pending signal must end the wait")
            start = clock.now
            #expect(!(await signal.wait(timeout: .milliseconds(100))), "a wait that times out says so")
            let waited = clock.now - start
            #expect(waited >= .milliseconds(90) && waited < .seconds(30), "signals do not queue up: the second wait times out")
        }
    }

    @Test("a signal from another task wakes a waiter")
    func wakeFromElsewhere() async {
        await onDedicatedThread(name: "wake-test") {
            let signal = WakeSignal()
            let clock = ContinuousClock()
            let start = clock.now
            async let waited = signal.wait(timeout: .seconds(60))
            try? await Task.sleep(for: .milliseconds(50))
            signal.signal()
            #expect(await waited, "the wait reports the signal")
            #expect(clock.now - start < .seconds(30))
        }
    }

    @Test("a cancelled wait returns promptly")
    func cancelledWait() async {
        await onDedicatedThread(name: "wake-test") {
            let signal = WakeSignal()
            let clock = ContinuousClock()
            let start = clock.now
            await withTaskGroup(of: Void.self) { group in
                group.addTask { #expect(!(await signal.wait(timeout: .seconds(60))), "a cancelled wait was not signalled") }
                try? await Task.sleep(for: .milliseconds(50))
                group.cancelAll()
            }
            #expect(clock.now - start < .seconds(30))
        }
    }

    @Test("redacted connection strings never show the password")
    func redaction() throws {
        let text = ConnInfo.redacted("host=db port=5432 user=rep password=sekret dbname='my db'")
        #expect(!text.contains("sekret") && !text.contains("password"))
        #expect(text.contains("host=db") && text.contains("dbname='my db'"))
        let uri = ConnInfo.redacted("postgresql://rep:sekret@db:5433/app?sslmode=require")
        #expect(!uri.contains("sekret") && uri.contains("host=db") && uri.contains("port=5433"))
        #expect(ConnInfo.containsPassword("host=x password=y"))
        #expect(ConnInfo.containsPassword("postgresql://u:p@h/d"))
        #expect(!ConnInfo.containsPassword("host=x user=y"))
        #expect(ConnInfo.redacted("host='unterminated") == "(invalid connection string)")
        #expect(throws: PostgresError.self) { try ConnInfo.parse("nokeyvalue") }
        #expect(ConnInfo.quoted("it's") == #"'it\'s'"#)
        #expect(ConnInfo.quoted("") == "''")
    }

    @Test("status prints a table and JSON with every field, nulls included")
    func statusOutput() throws {
        let statuses = [
            HostStatus(host: "slave1", conninfo: "host=a", lastAppliedXID: "742", appliedAt: "2024-01-01T00:00:00.000000Z",
                       queuedTransactions: 0, queuedRows: 0, secondsBehind: 0, state: .caughtUp, error: nil, errorAt: nil),
            HostStatus(host: "slave2", conninfo: "host=b", lastAppliedXID: nil, appliedAt: nil,
                       queuedTransactions: 2, queuedRows: 7, secondsBehind: 3.5, state: .error,
                       error: "duplicate key (SQLSTATE 23505)", errorAt: "2024-01-01T00:00:01.000000Z"),
        ]
        let table = StatusFormatter.table(statuses)
        let lines = table.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[1].contains("slave1") && lines[1].hasSuffix("caught up"))
        #expect(lines[2].contains("7") && lines[2].hasSuffix("error: duplicate key (SQLSTATE 23505)"))
        let json = try StatusFormatter.json(statuses)
        #expect(json.contains(#""queued_rows" : 7"#))
        #expect(json.contains(#""last_applied_xid" : null"#), "absent values are null, not missing:\n\(json)")
        #expect(json.contains(#""state" : "caught up""#))
    }

    @Test("a change's location names XID, SeqId, operation, table and key values")
    func location() {
        let change = Change(seqID: 42, xid: 7, table: "public.t", operation: .delete,
                            key: PendingRow([PendingColumn(name: "id", value: "O'1"), PendingColumn(name: "k", value: nil)]))
        #expect(change.location.description == "XID 7, SeqId 42, delete on public.t (id='O''1', k=NULL)")
    }
}
