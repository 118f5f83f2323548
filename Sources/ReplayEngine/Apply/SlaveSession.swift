import LibPQ
import Logging

/// One connection to a slave, set up for applying changes, with what it
/// learns per connection: table metadata and prepared statements.
///
/// A session that failed is thrown away (see `HostReplicator`): after an
/// error the server's prepared statements and transaction state are not
/// worth reasoning about, and a new connection costs little next to a retry.
final class SlaveSession {
    let connection: Connection
    let logger: Logger
    let settings: ApplySettings
    var catalog = SlaveCatalog()
    var statements: [StatementKey: PreparedStatement] = [:]
    var parameters = ParameterBuffer()
    var copyBuffer: [UInt8] = []
    /// A COPY whose end is sent and whose result is still to be read (the
    /// slave stores its last rows while the next chunk is read and planned).
    var copyInFlight: CopyInFlight?
    /// Statements in the pipeline whose results are not read yet.
    var pending: [PendingResult] = []
    var pendingRows = 0
    /// Queue bytes of the changes the pending results keep.
    var pendingBytes = 0
    /// Sync points sent behind `pending`'s statements, oldest first: results
    /// are read a group at a time, so the newest groups stay in flight.
    var syncMarks: [SyncMark] = []
    /// The round-trip time to the slave, measured when connecting (the least of three).
    private(set) var roundTrip: Duration = .zero
    /// Beyond `ApplySettings.copyRoundTripLimit`: no COPY, no parts.
    var isFar: Bool { roundTrip > settings.copyRoundTripLimit }
    /// True when `session_replication_role = replica` took: the slave's
    /// foreign keys and ordinary triggers are quiet, so changes to different
    /// tables may be reordered.
    private(set) var replicaRole = false
    private var inTransaction = false

    /// The values are the same text the master's capture wrote (docs/FORMAT.md),
    /// read back under the same output settings so every type's input
    /// function gets the form it expects.
    static let sessionSettings = """
        SET DateStyle = 'ISO, YMD';
        SET IntervalStyle = postgres;
        SET extra_float_digits = 3;
        SET bytea_output = hex;
        SET lc_monetary = 'C';
        SET client_min_messages = warning;
        SET jit = off;
        """

    /// Connects to the slave at `conninfo` and prepares the session.
    init(conninfo: String, settings: ApplySettings, logger: Logger) throws(PostgresError) {
        self.connection = try Connection(conninfo: conninfo, logger: logger)
        self.logger = logger
        self.settings = settings
        try connection.executeScript(Self.sessionSettings)
        do throws(PostgresError) {
            // Replica role: the slave's user triggers and foreign-key checks
            // stay quiet, as for any replication. It needs superuser.
            try connection.executeScript("SET session_replication_role = replica")
            replicaRole = true
        } catch where !error.isConnectionFailure {
            logger.info("session_replication_role stays 'origin' on this slave: \(error.message); its triggers and foreign keys will fire")
        }
        try ProgressTable.ensure(on: connection)
        // The least of three: one can take a loaded machine's scheduling delay.
        let clock = ContinuousClock()
        var fastest = Duration.seconds(3600)
        for _ in 0..<3 {
            let start = clock.now
            try connection.execute("SELECT 1")
            fastest = min(fastest, clock.now - start)
        }
        roundTrip = fastest
    }

    /// Opens the batch's slave transaction and locks this master's progress
    /// row, which must still hold `previous` (else another replayer moved it
    /// and the batch is planned again).
    ///
    /// - Parameters:
    ///   - createRow: the slave has no progress row yet: create it at `previous`.
    ///   - synchronous: wait for the slave's WAL flush at commit.
    func begin(masterID: String, previous: MasterSnapshot, createRow: Bool, synchronous: Bool) throws(ReplayError) {
        let held: String?
        do throws(PostgresError) {
            // Set-based statements join a text-array unnest to the table by
            // its key: with hash and merge joins off the planner probes the
            // primary key's index per row, instead of scanning the whole
            // table for every chunk.
            var statements: [(sql: String, parameters: [String?])] = [
                ("BEGIN", []), ("SET LOCAL synchronous_commit = \(synchronous ? "on" : "off")", []),
                ("SET LOCAL enable_hashjoin = off", []), ("SET LOCAL enable_mergejoin = off", []),
            ]
            if createRow { statements.append(ProgressTable.creation(masterID: masterID, start: previous.text)) }
            statements.append(ProgressTable.lock(masterID: masterID))
            inTransaction = true
            let results = try connection.executePipeline(statements)
            for result in results { _ = try result.get() }
            held = try results[results.count - 1].get().scalar
        } catch {
            throw ReplayError(slave: error)
        }
        guard held == previous.text else {
            throw ReplayError(.progressMoved, "the slave's progress moved from \(previous) to \(held ?? "nothing") while this batch was planned (another replayer?)")
        }
    }

    /// Advances the sequences, records the progress and commits, in one
    /// round trip; returns the slave's WAL position after the commit, for
    /// `isDurable(_:)`.
    func commit(masterID: String, snapshot: MasterSnapshot, sequences: [SequenceValue] = [],
                lastXID: UInt64?, lastSeqID: Int64?) throws(ReplayError) -> String {
        let statements = SequenceSync.statements(sequences) + [
            ProgressTable.advance(masterID: masterID, to: snapshot, lastXID: lastXID, lastSeqID: lastSeqID),
            ("COMMIT", []),
            ("SELECT pg_current_wal_insert_lsn()::text", []),
        ]
        let position = try finishInPipeline(statements, sequences: sequences)
        inTransaction = false
        return position
    }

    /// True once the slave's WAL is flushed past `lsn`: a commit before it
    /// survives a crash of the slave.
    func isDurable(_ lsn: String) throws(ReplayError) -> Bool {
        do throws(PostgresError) {
            return try connection.execute("SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn", [lsn]).scalar == "t"
        } catch {
            throw ReplayError(slave: error)
        }
    }

    /// Rolls back the batch's transaction, if one is open.
    func rollback() {
        if copyInFlight != nil {
            copyInFlight = nil
            _ = try? connection.finishCopy(statement: nil)
        }
        pending.removeAll()
        pendingRows = 0
        pendingBytes = 0
        syncMarks.removeAll()
        guard inTransaction else { return }
        inTransaction = false
        if connection.isInPipelineMode {
            // Left after a failure mid-pipeline: the connection is dropped anyway.
            return
        }
        do throws(PostgresError) {
            try connection.executeScript("ROLLBACK")
        } catch {
            logger.debug("rollback on the slave failed: \(error)")
        }
    }
}

/// How changes are sent to a slave.
public struct ApplySettings: Sendable {
    /// Statements per pipeline sync: results are read and checked after each.
    public var statementsPerSync: Int = 2000
    /// Rows (of set-based statements) per pipeline sync.
    public var rowsPerSync: Int = 20000
    /// Queue bytes of pending changes per pipeline sync (bounds the memory
    /// the pending results keep when rows are wide).
    public var bytesPerSync: Int = 16 << 20
    /// Group changes by table and fold them into set-based statements when
    /// the slave runs in replica mode (see `ApplyPlanner.netEffect`).
    public var setBased: Bool = true
    /// A run of at least this many inserts into one table with the same columns goes by COPY.
    public var copyThreshold: Int = 64
    /// Beyond this round-trip time to the slave (a far slave), the
    /// set-based plan sends inserts as INSERT … SELECT FROM unnest (in the
    /// pipeline) rather than by COPY (which costs three round trips), and a
    /// backlog is committed in one slave transaction rather than in parts
    /// (each costs a commit and a begin).
    public var copyRoundTripLimit: Duration = .milliseconds(2)
    /// COPY data is sent in pieces of about this many bytes.
    public var copyPieceBytes: Int = 256 * 1024

    public init() {}
}
