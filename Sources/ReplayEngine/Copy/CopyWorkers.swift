import LibPQ
import Logging
import Synchronization

/// Parallel table copies (`add-host --copy --jobs N`): each worker has its
/// own master connection, in a transaction that imports the copy's exported
/// snapshot, and its own slave connection. A worker takes one group of
/// tables at a time (tables foreign keys connect, which must be emptied
/// together) and empties and loads it in one slave transaction of its own.
///
/// Those transactions commit before the slave's progress row does: until
/// it does, no replayer applies anything to the slave (the host has no
/// starting point), so a copy stopped half-way leaves nothing a replayer
/// would build on.
struct CopyWorkers {
    let masterConninfo: String?
    let slaveConninfo: String
    let snapshotID: String
    let logger: Logger

    /// The groups still to copy, shared by the workers.
    final class WorkQueue: Sendable {
        private let groups: Mutex<[[SlaveTarget]]>
        private let failed = Atomic<Bool>(false)

        init(_ groups: [[SlaveTarget]]) { self.groups = Mutex(groups.reversed()) }

        func next() -> [SlaveTarget]? { groups.withLock { $0.popLast() } }
        func fail() { failed.store(true, ordering: .releasing) }
        var hasFailed: Bool { failed.load(ordering: .acquiring) }
    }

    /// Copies every group with up to `jobs` workers; returns the rows and bytes copied.
    func run(_ groups: [[SlaveTarget]], jobs: Int) async throws(ReplayError) -> (rows: Int, bytes: Int) {
        let queue = WorkQueue(groups)
        let results = await withTaskGroup(of: Result<(rows: Int, bytes: Int), ReplayError>.self) { group in
            for number in 1...max(1, min(jobs, groups.count)) {
                let thread = DedicatedThread(name: "dbmirror-copy-\(number)")
                group.addTask(executorPreference: thread) {
                    defer { thread.shutdown() }
                    do throws(ReplayError) {
                        return .success(try work(queue, number: number))
                    } catch {
                        queue.fail()
                        return .failure(error)
                    }
                }
            }
            var results: [Result<(rows: Int, bytes: Int), ReplayError>] = []
            for await result in group { results.append(result) }
            return results
        }
        var total = (rows: 0, bytes: 0)
        var firstFailure: ReplayError?
        for result in results {
            switch result {
            case .success(let counts):
                total.rows += counts.rows
                total.bytes += counts.bytes
            case .failure(let error):
                // A worker stopped because another failed says only that; report the cause.
                if firstFailure == nil || firstFailure?.kind == .cancelled { firstFailure = error }
            }
        }
        if let firstFailure { throw firstFailure }
        return total
    }

    /// One worker: groups until none is left, another worker failed, or the run is cancelled.
    private func work(_ queue: WorkQueue, number: Int) throws(ReplayError) -> (rows: Int, bytes: Int) {
        var logger = self.logger
        logger[metadataKey: "job"] = "\(number)"
        let master = try MasterConnection.open(masterConninfo, logger: logger)
        _ = try MasterReadTransaction.begin(on: master, importing: snapshotID)
        defer { MasterReadTransaction.end(on: master) }
        let slave: SlaveSession
        do throws(PostgresError) {
            slave = try SlaveSession(conninfo: slaveConninfo, settings: ApplySettings(), logger: logger)
        } catch {
            throw ReplayError(.slave, "cannot connect to the slave (\(ConnInfo.redacted(slaveConninfo))): \(error.message)", postgres: error)
        }
        let isCancelled = { Task.isCancelled || queue.hasFailed }
        var total = (rows: 0, bytes: 0)
        while let group = queue.next() {
            if isCancelled() {
                throw ReplayError(.cancelled, "stopped before every table was copied")
            }
            do throws(PostgresError) {
                try slave.connection.executeScript("BEGIN; SET LOCAL synchronous_commit = on")
            } catch {
                throw ReplayError(slave: error)
            }
            try SlaveTargets.empty(group, on: slave.connection)
            for target in group {
                let counts = try TableCopier().copy(target, from: master, to: slave.connection, logger: logger, isCancelled: isCancelled)
                total.rows += counts.rows
                total.bytes += counts.bytes
            }
            do throws(PostgresError) {
                try slave.connection.executeScript("COMMIT")
            } catch {
                throw ReplayError(slave: error)
            }
        }
        return total
    }
}
