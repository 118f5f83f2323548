import Foundation
import Testing

/// One test's replication set-up: a fresh master database with the queue
/// installed and fresh slave databases, registered as hosts.
struct Mirror {
    var name: String
    var master: String
    var slaves: [(host: String, conninfo: String)]

    /// Creates databases named after the test on the shared master and slaves,
    /// runs `schema` on all of them, installs MirrorSetup.sql on the master,
    /// mirrors `tables` and registers the slaves with `dbmirror add-host`.
    static func make(
        _ label: String,
        schema: String,
        tables: [String],
        master privateMaster: Cluster? = nil,
        slaves slaveClusters: [Cluster]? = nil
    ) throws -> Mirror {
        let name = "t_\(label)_\(UUID().uuidString.prefix(8).lowercased())"
        let masterCluster = try privateMaster ?? Clusters.master
        let slaveList = try slaveClusters ?? [Clusters.slave1, Clusters.slave2]

        try SQL.run(masterCluster.conninfo, "CREATE DATABASE \(name);")
        let master = masterCluster.conninfo(database: name)
        try SQL.runFile(master, repositoryRoot.appendingPathComponent("extension/MirrorSetup.sql").path)
        try SQL.run(master, schema)
        for t in tables {
            try SQL.run(master, "SELECT dbmirror_add_table('\(t.replacingOccurrences(of: "'", with: "''"))');")
        }

        var slaves: [(String, String)] = []
        for (i, cluster) in slaveList.enumerated() {
            try SQL.run(cluster.conninfo, "CREATE DATABASE \(name);")
            let conninfo = cluster.conninfo(database: name)
            try SQL.run(conninfo, schema)
            let host = "slave\(i + 1)"
            let r = try Dbmirror.run(["add-host", host, "--conninfo", conninfo, "--master", master])
            guard r.status == 0 else { throw HarnessError(description: "add-host failed: \(r.stderr)") }
            slaves.append((host, conninfo))
        }
        return Mirror(name: name, master: master, slaves: slaves)
    }

    /// `dbmirror run --once` against this master.
    func replayOnce(_ extra: [String] = [], timeout: Double = 600) throws -> CommandOutput {
        try Dbmirror.run(["run", "--once", "--master", master] + extra, timeout: timeout)
    }

    /// Replays and requires success.
    func replayOnceExpectingSuccess(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try replayOnce()
        #expect(r.status == 0, "dbmirror run --once failed (\(r.status)):\n\(r.stderr)", sourceLocation: sourceLocation)
    }

    /// Expects every slave's copy of each table to equal the master's, row for row.
    func expectSlavesEqual(_ tables: [String], only hosts: [String]? = nil,
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
        for t in tables {
            let want = try SQL.dump(master, table: t)
            for s in slaves where hosts == nil || hosts!.contains(s.host) {
                let got = try SQL.dump(s.conninfo, table: t)
                #expect(got == want, "\(s.host) differs from the master in \(t)", sourceLocation: sourceLocation)
            }
        }
    }

    func slave(_ host: String) -> String {
        slaves.first { $0.host == host }!.conninfo
    }
}

/// The `dbmirror` executable under test.
enum Dbmirror {
    static var path: String {
        get throws {
            if let p = ProcessInfo.processInfo.environment["DBMIRROR_BIN"], !p.isEmpty { return p }
            for candidate in [".build/debug/dbmirror", ".build/release/dbmirror"] {
                let url = repositoryRoot.appendingPathComponent(candidate)
                if FileManager.default.isExecutableFile(atPath: url.path) { return url.path }
            }
            throw HarnessError(description: "dbmirror executable not found: build it or set DBMIRROR_BIN")
        }
    }

    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 300) throws -> CommandOutput {
        try Command.run(path, arguments, environment: environment, timeout: timeout)
    }

    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> RunningCommand {
        try Command.start(path, arguments, environment: environment)
    }
}
