import Synchronization

/// A wake-up that can be signalled from anywhere and awaited with a timeout.
///
/// Signals do not queue up: any number of them before the next `wait`
/// make it return at once, once.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: (id: Int, continuation: CheckedContinuation<Bool, Never>)?
        var nextID = 0
    }

    private let state = Mutex(State())

    init() {}

    /// Wakes the current waiter, or the next one.
    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter.continuation
            }
            state.pending = true
            return nil
        }
        waiter?.resume(returning: true)
    }

    /// Returns when signalled (true), after `timeout` or when the task is
    /// cancelled (false).
    @discardableResult
    func wait(timeout: Duration) async -> Bool {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskGroup(of: Bool?.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.release(id)
                return nil
            }
            group.addTask {
                await withTaskCancellationHandler {
                    await self.suspend(id)
                } onCancel: {
                    self.release(id)
                }
            }
            var signalled = false
            for await result in group {
                if let result {
                    signalled = result
                    break
                }
            }
            group.cancelAll()
            return signalled
        }
    }

    private func suspend(_ id: Int) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.pending {
                    state.pending = false
                    return true
                }
                state.waiter = (id, continuation)
                return false
            }
            if resumeNow || Task.isCancelled {
                // If cancelled after parking, release() below finds and resumes it.
                if resumeNow { continuation.resume(returning: true) } else { release(id) }
            }
        }
    }

    /// Resumes the waiter `id` if it is still parked.
    private func release(_ id: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard let waiter = state.waiter, waiter.id == id else { return nil }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(returning: false)
    }
}
