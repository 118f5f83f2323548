import Synchronization

/// The running hosts of `dbmirror run`, shared by the master watcher (which
/// wakes them and learns the host list) and the supervisor (which starts
/// and stops their tasks).
final class HostHub: Sendable {
    /// One running host task's controls.
    final class Handle: Sendable {
        let host: HostConfig
        /// Signalled on notifications from the master: new changes committed.
        let wake = WakeSignal()
        /// Signalled when the host is removed or changed.
        let stopSignal = WakeSignal()
        private let stopped = Atomic<Bool>(false)

        init(host: HostConfig) { self.host = host }

        var isStopped: Bool { stopped.load(ordering: .acquiring) }

        func stop() {
            stopped.store(true, ordering: .releasing)
            stopSignal.signal()
            wake.signal()
        }
    }

    private let handles = Mutex<[HostConfig: Handle]>([:])
    private let appliedSinceCleanup = Atomic<Bool>(false)

    init() {}

    /// Makes the running set match `hosts`: returns handles to start;
    /// stops those no longer listed (a changed row counts as removed and added).
    func reconcile(_ hosts: [HostConfig]) -> [Handle] {
        handles.withLock { running -> [Handle] in
            let wanted = Set(hosts)
            for (host, handle) in running where !wanted.contains(host) {
                handle.stop()
                running[host] = nil
            }
            var started: [Handle] = []
            for host in hosts where running[host] == nil {
                let handle = Handle(host: host)
                running[host] = handle
                started.append(handle)
            }
            return started
        }
    }

    /// Wakes every host: the master committed changes.
    func wakeAll() {
        let all = handles.withLock { Array($0.values) }
        for handle in all { handle.wake.signal() }
    }

    /// Notes that some host applied a batch (cleanup may have work).
    func noteApplied() {
        appliedSinceCleanup.store(true, ordering: .releasing)
    }

    /// True once after any `noteApplied()`.
    func takeApplied() -> Bool {
        appliedSinceCleanup.exchange(false, ordering: .acquiringAndReleasing)
    }
}
