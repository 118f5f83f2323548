import Foundation
import Synchronization

/// The repository root, found from this file's path.
let repositoryRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            return url
        }
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}()

/// A running PostgreSQL cluster: its directory (if this process started it)
/// and its connection string (to its `postgres` database).
struct Cluster: Sendable {
    var directory: String?
    var conninfo: String

    /// The connection string for database `name` on this cluster.
    func conninfo(database name: String) -> String {
        conninfo.replacingOccurrences(of: "dbname=postgres", with: "dbname=\(name)")
    }
}

/// The three servers the end-to-end tests share: a master and two slaves.
///
/// `scripts/test` starts them and passes their connection strings in
/// DBMIRROR_TEST_MASTER, DBMIRROR_TEST_SLAVE1 and DBMIRROR_TEST_SLAVE2. When
/// those are not set (a plain `swift test`), the first test that needs them
/// starts them with scripts/pg-cluster, and they are stopped when the test
/// process exits. A server that cannot be started fails the test: these tests
/// never skip.
enum Clusters {
    private static let state = Mutex<[String: Cluster]>([:])
    nonisolated(unsafe) private static var exitHookInstalled = false
    nonisolated(unsafe) private static var ownedRoot: String?

    static var master: Cluster { get throws { try shared("MASTER") } }
    static var slave1: Cluster { get throws { try shared("SLAVE1") } }
    static var slave2: Cluster { get throws { try shared("SLAVE2") } }

    private static func shared(_ role: String) throws -> Cluster {
        try state.withLock { clusters in
            if let c = clusters[role] { return c }
            let c: Cluster
            if let conninfo = ProcessInfo.processInfo.environment["DBMIRROR_TEST_\(role)"], !conninfo.isEmpty {
                c = Cluster(directory: nil, conninfo: conninfo)
            } else {
                c = try startOwned(name: role.lowercased())
            }
            clusters[role] = c
            return c
        }
    }

    /// Starts a cluster that belongs to one test (for tests that stop or
    /// restart a server). Stop it with `stop(_:)`; the exit hook removes it too.
    static func startPrivate(name: String, settings: [String] = []) throws -> Cluster {
        try state.withLock { _ in try startOwned(name: "\(name)-\(UUID().uuidString.prefix(8))", settings: settings) }
    }

    /// `settings` are `key=value` lines for postgresql.conf.
    private static func startOwned(name: String, settings: [String] = []) throws -> Cluster {
        let root = try rootDirectory()
        let result = try Command.run(
            repositoryRoot.appendingPathComponent("scripts/pg-cluster").path,
            ["start", "--root", root, "--name", name] + settings.flatMap { ["--set", $0] }, timeout: 120)
        guard result.status == 0 else {
            throw HarnessError(description: "could not start a PostgreSQL server for the tests:\n\(result.stderr)")
        }
        return Cluster(directory: root + "/" + name,
                       conninfo: result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Where this process puts the clusters it starts.
    private static func rootDirectory() throws -> String {
        if let root = ownedRoot { return root }
        let root: String
        if let given = ProcessInfo.processInfo.environment["DBMIRROR_CLUSTER_ROOT"], !given.isEmpty {
            root = given + "/swift-test-\(getpid())"
        } else {
            root = NSTemporaryDirectory() + "dbmirror-swift-test-\(getpid())"
        }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        ownedRoot = root
        if !exitHookInstalled {
            exitHookInstalled = true
            atexit { Clusters.stopAllOwned() }
        }
        return root
    }

    /// Stops (pg_ctl stop) the cluster in `cluster.directory`.
    static func stop(_ cluster: Cluster) throws {
        guard let dir = cluster.directory else { throw HarnessError(description: "not a private cluster") }
        _ = try Command.run(repositoryRoot.appendingPathComponent("scripts/pg-cluster").path, ["stop", dir])
    }

    /// Starts a stopped private cluster again, on the same port.
    static func restart(_ cluster: Cluster) throws {
        guard let dir = cluster.directory else { throw HarnessError(description: "not a private cluster") }
        let r = try Command.run(repositoryRoot.appendingPathComponent("scripts/pg-cluster").path, ["restart", dir])
        guard r.status == 0 else { throw HarnessError(description: "restart failed: \(r.stderr)") }
    }

    static func destroy(_ cluster: Cluster) {
        guard let dir = cluster.directory else { return }
        _ = try? Command.run(repositoryRoot.appendingPathComponent("scripts/pg-cluster").path, ["destroy", dir])
    }

    private static func stopAllOwned() {
        guard let root = ownedRoot else { return }
        _ = try? Command.run(repositoryRoot.appendingPathComponent("scripts/pg-cluster").path, ["stop-all", root])
    }
}
