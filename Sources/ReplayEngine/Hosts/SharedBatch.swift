import LibPQ
import Logging

/// `--once`: the master's batch is read once (every
/// change some host still needs, up to one snapshot) and each chunk applied
/// to every host, each slave on its own thread in its own transaction, and
/// each skipping the changes its own progress already holds; exactly what
/// `HostReplicator` would apply to each. A batch that ends at a mark
/// (`QueueReader`) is followed by the next at once: the master reads the
/// next part while the slaves still apply and commit the last.
///
/// Any trouble for one host (progress moved, a change that fails, a lost
/// connection) rolls back that host's transaction and reports it as not
/// done: the caller then replays that host on its own, which plans again
/// from its progress and names a failing change precisely.
struct SharedBatch {
    struct Member: Sendable {
        var host: HostConfig
        /// The snapshot the slave holds (or starts from).
        var previous: MasterSnapshot
        /// The slave has no progress row yet; it starts at `previous`.
        var createRow: Bool
    }

    /// What one member got done.
    struct Applied: Sendable {
        var host: HostConfig
        var changes: Int
        var snapshot: MasterSnapshot
        var lastXID: UInt64?
    }

    /// What the reader hands the members.
    enum Item: Sendable {
        /// A batch starts; the last one does not end at a mark, and only its
        /// commit waits for the slave's WAL flush (which makes the earlier
        /// ones durable too).
        case begin(endsAtMark: Bool)
        case chunk([Change], SharedPlan)
        /// The batch is complete: commit at this snapshot with these
        /// sequence values (a far slave goes on with the next part in the
        /// same transaction when the batch ended at a mark).
        case end(MasterSnapshot, [SequenceValue], endsAtMark: Bool)
        /// The master failed; roll back.
        case failed(ReplayError)
    }

    let members: [Member]
    let masterID: String
    let settings: ReplaySettings
    let logger: Logger

    /// Runs the batch; returns the members that committed it.
    func run() async -> [Applied] {
        let feed = ChunkBroadcast<Item>(consumers: members.count)
        let readerThread = DedicatedThread(name: "dbmirror-reader")
        return await withTaskGroup(of: Applied?.self) { group -> [Applied] in
            group.addTask(executorPreference: readerThread) {
                defer { readerThread.shutdown() }
                await read(into: feed)
                return nil
            }
            for (index, member) in members.enumerated() {
                let thread = DedicatedThread(name: "dbmirror-\(member.host.name)")
                group.addTask(executorPreference: thread) {
                    defer { thread.shutdown() }
                    return await apply(member, consumer: index, from: feed)
                }
            }
            var applied: [Applied] = []
            for await result in group {
                if let result { applied.append(result) }
            }
            return applied
        }
    }

    /// The master side: one REPEATABLE READ transaction, chunk after chunk.
    private func read(into feed: ChunkBroadcast<Item>) async {
        defer { feed.finish() }
        do throws(ReplayError) {
            let master = try MasterConnection.open(settings.masterConninfo, logger: logger)
            let upkeep = QueueIndexes.openUpkeep(settings.masterConninfo, logger: logger)
            let reader = QueueReader(connection: master, logger: logger)
            defer { reader.end() }
            var previous = members.map(\.previous)
            while true {
                let batch = try reader.begin(after: previous, limit: settings.chunkSize, upkeep: upkeep)
                // The begin and end items are small and need no room: the
                // master opens the next part while the slaves apply the last.
                await feed.publish(.begin(endsAtMark: batch.endsAtMark), waitingForRoom: false)
                while true {
                    if Task.isCancelled {
                        await feed.publish(.failed(ReplayError(.cancelled, "stopped before the batch was complete; it was rolled back")))
                        return
                    }
                    let chunk = try reader.next(limit: settings.chunkSize)
                    if chunk.isEmpty { break }
                    // The master reads the next chunk while the slaves take this one.
                    if reader.mayHaveMore { try reader.prefetch(limit: settings.chunkSize) }
                    await feed.publish(.chunk(chunk, SharedPlan()))
                }
                reader.end()
                await feed.publish(.end(batch.current, batch.sequences, endsAtMark: batch.endsAtMark),
                                   waitingForRoom: false)
                guard batch.endsAtMark else { break }
                previous = [batch.current]
            }
        } catch {
            await feed.publish(.failed(error))
        }
    }

    /// One slave: its own transaction, the shared chunks, its own commit.
    private func apply(_ member: Member, consumer: Int, from feed: ChunkBroadcast<Item>) async -> Applied? {
        var logger = self.logger
        logger[metadataKey: LogKey.host] = "\(member.host.name)"
        let session: SlaveSession
        do throws(PostgresError) {
            session = try SlaveSession(conninfo: member.host.conninfo, settings: settings.apply, logger: logger)
        } catch {
            feed.leave(consumer: consumer)
            logger.debug("shared batch: cannot connect (\(error.message)); replaying alone")
            return nil
        }
        var previous = member.previous
        var createRow = member.createRow
        var total = 0
        var changes = 0
        var last: Change?
        var lastXID: UInt64?
        var applied: Applied?
        var open = false
        do throws(ReplayError) {
            while let item = await feed.next(consumer: consumer) {
                switch item {
                case .begin(let endsAtMark):
                    guard !open else { continue }  // a far slave's next part
                    try session.begin(masterID: masterID, previous: previous, createRow: createRow,
                                      synchronous: !endsAtMark || session.isFar)
                    open = true
                    changes = 0
                    last = nil
                case .chunk(let shared, let plan):
                    // What this slave's own progress already holds is skipped
                    // (usually nothing: then the chunk is not copied); the
                    // shared plan is only for the whole chunk.
                    let whole = !shared.contains { previous.sees($0.xid) }
                    let chunk = whole ? shared : shared.filter { !previous.sees($0.xid) }
                    guard !chunk.isEmpty else { continue }
                    try session.apply(chunk, keepPipelineOpen: true, shared: whole ? plan : nil)
                    changes += chunk.count
                    last = chunk.last ?? last
                case .end(let snapshot, let sequences, let endsAtMark):
                    // A far slave commits once, at the end of the last part.
                    if endsAtMark && session.isFar { continue }
                    _ = try session.commit(masterID: masterID, snapshot: snapshot, sequences: sequences,
                                           lastXID: last?.xid ?? lastXID, lastSeqID: last?.seqID)
                    open = false
                    previous = snapshot
                    createRow = false
                    total += changes
                    lastXID = last?.xid ?? lastXID
                    if changes > 0 {
                        var metadata: Logger.Metadata = [
                            LogKey.changes: "\(changes)", LogKey.xid: "\(last?.xid ?? 0)", LogKey.snapshot: "\(snapshot)"]
                        if members.count > 1 { metadata["shared"] = "\(members.count) hosts" }
                        logger.info("applied batch", metadata: metadata)
                    }
                    applied = Applied(host: member.host, changes: total, snapshot: snapshot, lastXID: lastXID)
                case .failed(let error):
                    throw error
                }
            }
            guard let applied, !open else {
                throw ReplayError(.cancelled, "the shared batch ended early")
            }
            return applied
        } catch {
            feed.leave(consumer: consumer)
            session.rollback()
            logger.debug("shared batch: \(error.description); replaying alone")
            return nil
        }
    }
}
