import Synchronization
import Testing
@testable import ReplayEngine

@Suite("Sharing one master read between slaves")
struct BroadcastTests {
    @Test("every consumer gets every item in order, then nil")
    func order() async {
        let feed = ChunkBroadcast<Int>(consumers: 3, window: 2)
        let received = await withTaskGroup(of: [Int].self) { group -> [[Int]] in
            for consumer in 0..<3 {
                group.addTask {
                    var items: [Int] = []
                    while let item = await feed.next(consumer: consumer) { items.append(item) }
                    return items
                }
            }
            group.addTask {
                for item in 1...50 { await feed.publish(item) }
                feed.finish()
                return []
            }
            var all: [[Int]] = []
            for await list in group where !list.isEmpty { all.append(list) }
            return all
        }
        #expect(received.count == 3)
        for list in received { #expect(list == Array(1...50)) }
    }

    @Test("the producer waits for a slow consumer, and not for one that left")
    func backpressure() async {
        let feed = ChunkBroadcast<Int>(consumers: 2, window: 2)
        let published = Counter()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for item in 1...10 {
                    await feed.publish(item)
                    published.set(item)
                }
                feed.finish()
            }
            // Consumer 0 takes nothing yet: the producer stops after the window.
            try? await Task.sleep(for: .milliseconds(200))
            let early = published.get()
            #expect(early <= 2, "published \(early) items past a consumer that took none")
            // Consumer 1 reads everything; consumer 0 leaves: the producer goes on.
            group.addTask {
                var count = 0
                while await feed.next(consumer: 1) != nil { count += 1 }
                #expect(count == 10)
            }
            feed.leave(consumer: 0)
            #expect(await feed.next(consumer: 0) == nil, "a consumer that left gets nothing more")
        }
        #expect(published.get() == 10)
    }
}

/// A shared integer for the tests above.
private final class Counter: Sendable {
    private let value = Mutex(0)
    func set(_ new: Int) { value.withLock { $0 = new } }
    func get() -> Int { value.withLock { $0 } }
}
