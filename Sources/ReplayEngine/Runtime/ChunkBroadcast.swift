import Synchronization

/// One producer hands the same items, in order, to several consumers, each
/// on its own task. The producer waits while an active consumer is `window`
/// items behind, so memory stays bounded by the slowest consumer's window.
/// A consumer that stops early leaves, and is no longer waited for.
final class ChunkBroadcast<Item: Sendable>: Sendable {
    private struct State {
        var queues: [[Item]]
        var active: [Bool]
        var consumerWaiters: [CheckedContinuation<Item?, Never>?]
        var producerWaiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    private let state: Mutex<State>
    private let window: Int

    init(consumers: Int, window: Int = 2) {
        self.window = max(1, window)
        state = Mutex(State(queues: Array(repeating: [], count: consumers),
                            active: Array(repeating: true, count: consumers),
                            consumerWaiters: Array(repeating: nil, count: consumers)))
    }

    /// Hands `item` to every active consumer; returns once every active
    /// consumer has fewer than `window` items waiting (or on cancellation),
    /// or at once for a small item that need not wait for room.
    func publish(_ item: Item, waitingForRoom: Bool = true) async {
        let wake = state.withLock { state -> [(CheckedContinuation<Item?, Never>, Item)] in
            var wake: [(CheckedContinuation<Item?, Never>, Item)] = []
            for index in state.queues.indices where state.active[index] {
                if let waiter = state.consumerWaiters[index] {
                    state.consumerWaiters[index] = nil
                    wake.append((waiter, item))
                } else {
                    state.queues[index].append(item)
                }
            }
            return wake
        }
        for (waiter, item) in wake { waiter.resume(returning: item) }
        while waitingForRoom && !Task.isCancelled {
            let full = await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let mustWait = state.withLock { state -> Bool in
                        guard isFull(state), !Task.isCancelled else { return false }
                        state.producerWaiter = continuation
                        return true
                    }
                    if !mustWait { continuation.resume() }
                }
                return state.withLock { isFull($0) }
            } onCancel: {
                resumeProducer()
            }
            if !full { return }
        }
    }

    /// No more items: consumers get nil once they have taken the rest.
    func finish() {
        let waiters = state.withLock { state -> [CheckedContinuation<Item?, Never>] in
            state.finished = true
            let waiters = state.consumerWaiters.compactMap { $0 }
            state.consumerWaiters = Array(repeating: nil, count: state.consumerWaiters.count)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// The next item for `consumer`, waiting for it; nil when the producer
    /// finished (or the task is cancelled).
    func next(consumer: Int) async -> Item? {
        let item = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Item?, Never>) in
                let ready = state.withLock { state -> Item?? in
                    if !state.queues[consumer].isEmpty { return .some(state.queues[consumer].removeFirst()) }
                    if state.finished || !state.active[consumer] || Task.isCancelled { return .some(nil) }
                    state.consumerWaiters[consumer] = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Item?, Never>? in
                defer { state.consumerWaiters[consumer] = nil }
                return state.consumerWaiters[consumer]
            }
            waiter?.resume(returning: nil)
        }
        resumeProducer()
        return item
    }

    /// `consumer` takes no more items.
    func leave(consumer: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Item?, Never>? in
            state.active[consumer] = false
            state.queues[consumer].removeAll()
            defer { state.consumerWaiters[consumer] = nil }
            return state.consumerWaiters[consumer]
        }
        waiter?.resume(returning: nil)
        resumeProducer()
    }

    private func isFull(_ state: State) -> Bool {
        state.queues.indices.contains { state.active[$0] && state.queues[$0].count >= window }
    }

    private func resumeProducer() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state.producerWaiter = nil }
            return state.producerWaiter
        }
        waiter?.resume()
    }
}
