import Testing
@testable import ReplayEngine

@Suite("Queue indexes: when a batch waits for a vacuum to summarise")
struct QueueIndexesTests {
    @Test("a batch waits only when reading an unsummarised queue costs more than the wait")
    func waitForVacuum() {
        let mb = 1 << 20
        // A small queue is read unsummarised: cheaper than any wait.
        #expect(QueueIndexes.wait(forQueueBytes: 1 * mb, superuser: true) == nil)
        // A pgbench backlog of 40,000 transactions (about 13 MB): a superuser
        // waits briefly (autovacuum is cancelled after its 50 ms
        // deadlock_timeout), others would wait a whole second and do not.
        #expect(QueueIndexes.wait(forQueueBytes: 13 * mb, superuser: true) == .briefly)
        #expect(QueueIndexes.wait(forQueueBytes: 13 * mb, superuser: false) == nil)
        // A large queue is worth a long wait for anyone.
        #expect(QueueIndexes.wait(forQueueBytes: 64 * mb, superuser: false) == .forAVacuum)
        #expect(QueueIndexes.wait(forQueueBytes: 200 * mb, superuser: true) == .forAVacuum)
    }
}
