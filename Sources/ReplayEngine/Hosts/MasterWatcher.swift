import LibPQ
import Logging

/// The master side of `dbmirror run`: LISTENs for the capture's
/// notifications (holding the `ListenerLock`, without which the capture
/// sends none) and wakes the hosts, re-reads the host list, and cleans
/// the queue. Owns one master connection; runs on its own thread.
struct MasterWatcher {
    static let channel = "dbmirror"

    let hub: HostHub
    let settings: ReplaySettings
    let logger: Logger
    /// Receives the selected hosts whenever they are read.
    let hostUpdates: AsyncStream<[HostConfig]>.Continuation

    func run() async {
        var connection: Connection?
        var backoff = Backoff(initial: settings.retryInitial, maximum: settings.retryMaximum)
        let clock = ContinuousClock()
        var lastHostRead = clock.now - .seconds(3600)
        var lastCleanup = clock.now
        var notified = false
        var lock: ListenerLock?
        while !Task.isCancelled {
            do throws(ReplayError) {
                let master: Connection
                if let connection, connection.isOpen {
                    master = connection
                } else {
                    master = try MasterConnection.open(settings.masterConninfo, logger: logger)
                    do throws(PostgresError) {
                        try master.listen(channel: Self.channel)
                        lock = try ListenerLock(on: master)
                    } catch {
                        throw ReplayError(master: error)
                    }
                    connection = master
                    lastHostRead = clock.now - .seconds(3600)
                    // Changes may have committed while nobody listened.
                    hub.wakeAll()
                    backoff.reset()
                }
                do throws(PostgresError) {
                    let notes = try master.waitForNotifications(timeout: lock?.waitLimit(.milliseconds(250)) ?? .milliseconds(250))
                    if !notes.isEmpty {
                        hub.wakeAll()
                        notified = true
                    }
                    if try lock?.afterWait(notified: !notes.isEmpty, on: master) == true {
                        hub.wakeAll()
                    }
                } catch {
                    throw ReplayError(master: error)
                }
                let sinceRead = clock.now - lastHostRead
                if sinceRead >= settings.hostRefreshInterval || (notified && sinceRead >= .seconds(1)) {
                    notified = false
                    lastHostRead = clock.now
                    hostUpdates.yield(try HostRegistry.hosts(on: master).filter(selected))
                }
                if clock.now - lastCleanup >= settings.cleanupInterval, hub.takeApplied() {
                    lastCleanup = clock.now
                    _ = try QueueCleaner.clean(on: master, maximumStatements: settings.cleanupStatementsPerRound, logger: logger)
                }
            } catch {
                connection = nil
                let delay = backoff.take()
                logger.error("\(error)", metadata: ["retry_in": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
        }
        hostUpdates.finish()
    }

    private func selected(_ host: HostConfig) -> Bool {
        settings.hostNames.isEmpty || settings.hostNames.contains(host.name)
    }
}
