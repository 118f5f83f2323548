import Foundation

/// Runs SQL through psql, the way a DBA would, so the end-to-end tests do
/// not depend on the code under test to look at the databases.
enum SQL {
    /// Runs `sql` (one or more statements) and returns psql's unaligned,
    /// tuples-only output with `|` between fields, trailing newline removed.
    @discardableResult
    static func run(_ conninfo: String, _ sql: String, timeout: Double = 300) throws -> String {
        let r = try Command.run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F", "|",
                                         "-d", conninfo, "-f", "-"], input: sql, timeout: timeout)
        guard r.status == 0 else {
            throw HarnessError(description: "psql failed (\(r.status)) on:\n\(sql.prefix(500))\n\(r.stderr)")
        }
        var out = r.stdout
        if out.hasSuffix("\n") { out.removeLast() }
        return out
    }

    /// Runs a file with psql -f.
    static func runFile(_ conninfo: String, _ path: String) throws {
        let r = try Command.run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-f", path])
        guard r.status == 0 else { throw HarnessError(description: "psql -f \(path) failed:\n\(r.stderr)") }
    }

    /// Every row of `table` as text, sorted: equal outputs mean equal contents.
    static func dump(_ conninfo: String, table: String) throws -> String {
        try run(conninfo, "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM \(table) t;")
    }

    static func count(_ conninfo: String, _ query: String) throws -> Int {
        let s = try run(conninfo, query)
        guard let n = Int(s) else { throw HarnessError(description: "not a count: \(s)") }
        return n
    }
}
