import Foundation

/// A task executor backed by one OS thread of its own.
///
/// libpq calls block. Work that owns a connection runs with this executor as
/// its task-executor preference, so those calls block this thread and never
/// the cooperative pool the rest of the program shares.
final class DedicatedThread: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopping = false
    private var stopped = false

    /// Starts the thread, named `name` (shown by debuggers and `top -H`).
    init(name: String) {
        let thread = Thread { [self] in self.serve() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        if stopped {
            // A straggler after shutdown: let the shared pool run it.
            condition.unlock()
            globalConcurrentExecutor.enqueue(job)
            return
        }
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Lets the thread end once it has run every job queued so far.
    func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func serve() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping {
                condition.wait()
            }
            if jobs.isEmpty {
                stopped = true
                condition.unlock()
                return
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch {
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
        }
    }
}

/// Runs `body` on a thread of its own (see `DedicatedThread`), then ends the thread.
func onDedicatedThread<T: Sendable, E: Error>(
    name: String, _ body: @Sendable () async throws(E) -> T
) async throws(E) -> T {
    let thread = DedicatedThread(name: name)
    defer { thread.shutdown() }
    return try await withTaskExecutorPreference(thread) { () async throws(E) -> T in
        try await body()
    }
}
