import Foundation
import LibPQ
import Logging

/// What `dbmirror status` reports for one host, from the master's records.
public struct HostStatus: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable {
        case caughtUp = "caught up"
        case behind
        case error
        /// No "MirroredTransaction" row: the host cannot start.
        case unknown
    }

    public var host: String
    /// The host's connection string without its password.
    public var conninfo: String
    public var lastAppliedXID: String?
    public var appliedAt: String?
    /// Committed master transactions and changes not yet applied to the host.
    public var queuedTransactions: Int
    public var queuedRows: Int
    /// Seconds since the host last caught up (its recorded "AppliedAt"), when behind; 0 when caught up.
    public var secondsBehind: Double?
    public var state: State
    /// Why the host stopped ("LastError"), while it does.
    public var error: String?
    public var errorAt: String?

    enum CodingKeys: String, CodingKey {
        case host, conninfo, state, error
        case lastAppliedXID = "last_applied_xid"
        case appliedAt = "applied_at"
        case queuedTransactions = "queued_transactions"
        case queuedRows = "queued_rows"
        case secondsBehind = "seconds_behind"
        case errorAt = "error_at"
    }

    /// Every key is written, absent values as null, so readers see one shape.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(host, forKey: .host)
        try container.encode(conninfo, forKey: .conninfo)
        try container.encode(lastAppliedXID, forKey: .lastAppliedXID)
        try container.encode(appliedAt, forKey: .appliedAt)
        try container.encode(queuedTransactions, forKey: .queuedTransactions)
        try container.encode(queuedRows, forKey: .queuedRows)
        try container.encode(secondsBehind, forKey: .secondsBehind)
        try container.encode(state, forKey: .state)
        try container.encode(error, forKey: .error)
        try container.encode(errorAt, forKey: .errorAt)
    }

    /// The state as one phrase: "caught up", "behind", "error: …".
    public var stateText: String {
        switch state {
        case .error: "error: \(error ?? "")"
        case .unknown: "unknown: no recorded snapshot (remove and add the host again)"
        case .caughtUp, .behind: state.rawValue
        }
    }
}

/// Reads every host's status from the master.
public enum StatusReport {
    static let query = #"""
        SELECT h."HostName", h."ConnInfo", t."LastXID"::text,
               to_char(t."AppliedAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               t."LastError", to_char(t."LastErrorAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               t."Snapshot" IS NOT NULL, q.transactions, q.rows,
               extract(epoch FROM clock_timestamp() - t."AppliedAt")::float8
        FROM "MirrorHost" h
        LEFT JOIN "MirroredTransaction" t USING ("MirrorHostId")
        LEFT JOIN LATERAL (
            SELECT count(DISTINCT p."XID") AS transactions, count(*) AS rows
            FROM "Pending" p
            WHERE p."XID" >= pg_snapshot_xmin(t."Snapshot")
              AND NOT pg_visible_in_snapshot(p."XID", t."Snapshot")
        ) q ON t."Snapshot" IS NOT NULL
        ORDER BY h."HostName"
        """#

    public static func read(master: String?, logger: Logger) async throws(ReplayError) -> [HostStatus] {
        try await onDedicatedThread(name: "dbmirror-status") { () throws(ReplayError) -> [HostStatus] in
            let connection = try MasterConnection.open(master, logger: logger)
            do throws(PostgresError) {
                return parse(try connection.execute(query))
            } catch {
                throw HostRegistry.setupError(error)
            }
        }
    }

    static func parse(_ result: QueryResult) -> [HostStatus] {
        (0..<result.rowCount).map { row in
            let recorded = result.string(row: row, column: 6) == "t"
            let transactions = result.string(row: row, column: 7).flatMap { Int($0) } ?? 0
            let rows = result.string(row: row, column: 8).flatMap { Int($0) } ?? 0
            let error = result.string(row: row, column: 4)
            let state: HostStatus.State =
                !recorded ? .unknown : error != nil ? .error : rows > 0 ? .behind : .caughtUp
            let age = result.string(row: row, column: 9).flatMap { Double($0) }
            return HostStatus(
                host: result.string(row: row, column: 0) ?? "",
                conninfo: ConnInfo.redacted(result.string(row: row, column: 1) ?? ""),
                lastAppliedXID: result.string(row: row, column: 2),
                appliedAt: result.string(row: row, column: 3),
                queuedTransactions: transactions,
                queuedRows: rows,
                secondsBehind: rows > 0 ? age.map { max(0, ($0 * 1000).rounded() / 1000) } : (recorded ? 0 : nil),
                state: state,
                error: error,
                errorAt: result.string(row: row, column: 5))
        }
    }
}

/// Printing statuses for people and for programs.
public enum StatusFormatter {
    /// One aligned line per host, with a header.
    public static func table(_ statuses: [HostStatus]) -> String {
        let header = ["HOST", "LAST XID", "QUEUED TX", "QUEUED ROWS", "BEHIND (s)", "CONNINFO", "STATE"]
        let rows = statuses.map { s in
            [s.host, s.lastAppliedXID ?? "-", String(s.queuedTransactions), String(s.queuedRows),
             s.secondsBehind.map { String(format: "%.1f", $0) } ?? "-", s.conninfo, s.stateText]
        }
        // Align every column but the last (free text).
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < header.count - 1 {
                widths[i] = max(widths[i], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i < header.count - 1 ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) : cell
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    /// A JSON array of host objects (keys in snake case, sorted).
    public static func json(_ statuses: [HostStatus]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(statuses), as: UTF8.self)
    }
}
