import Testing
@testable import ReplayEngine

@Suite("Master snapshots")
struct SnapshotTests {
    @Test("pg_snapshot text parses, and what it sees follows PostgreSQL's rule")
    func parsing() throws {
        let s = try #require(MasterSnapshot("100:105:100,102"))
        #expect(s.xmin == 100 && s.xmax == 105 && s.inProgress == [100, 102])
        #expect(s.sees(99))
        #expect(!s.sees(100), "in progress")
        #expect(s.sees(101))
        #expect(!s.sees(102), "in progress")
        #expect(s.sees(104))
        #expect(!s.sees(105), "not started")
        let empty = try #require(MasterSnapshot("731:731:"))
        #expect(empty.inProgress.isEmpty && empty.sees(730) && !empty.sees(731))
    }

    @Test("text that is not a pg_snapshot is rejected", arguments: [
        "", "1:2", "a:b:", "5:4:", "1:5:7", "1:5:0", "1:5:2,", "1:5:2,,3", "-1:5:",
    ])
    func rejects(_ text: String) {
        #expect(MasterSnapshot(text) == nil)
    }

    @Test("a progress is behind a recorded snapshot only when it cannot include it")
    func behind() throws {
        let recorded = try #require(MasterSnapshot("200:210:205"))
        #expect(try #require(MasterSnapshot("150:160:")).isBehind(recorded))
        #expect(!(try #require(MasterSnapshot("200:210:205")).isBehind(recorded)), "equal")
        #expect(!(try #require(MasterSnapshot("230:230:")).isBehind(recorded)), "ahead")
        #expect(!(try #require(MasterSnapshot("190:201:195")).isBehind(recorded)), "overlapping: not provably behind")
    }
}
