import Foundation
import Testing

/// A PostgreSQL server for tests that need one: the one named by the
/// DBMIRROR_TEST_MASTER conninfo, or a throwaway cluster started with
/// scripts/pg-cluster and destroyed afterwards. Failing to start one is a
/// test failure, never a skip.
struct TestServer {
    let conninfo: String
    private let clusterDirectory: String?

    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs `body` with a server, destroying a cluster it started even when `body` throws.
    static func with<R>(_ body: (TestServer) throws -> R) throws -> R {
        let server = try start()
        defer { server.stop() }
        return try body(server)
    }

    private static func start() throws -> TestServer {
        if let conninfo = ProcessInfo.processInfo.environment["DBMIRROR_TEST_MASTER"], !conninfo.isEmpty {
            return TestServer(conninfo: conninfo, clusterDirectory: nil)
        }
        let root = "/tmp/decoder-clusters"
        let name = "decoder-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let script = repositoryRoot.appendingPathComponent("scripts/pg-cluster").path
        let result = try run(script, ["start", "--root", root, "--name", name])
        guard result.status == 0, let line = result.output.split(separator: "\n").last else {
            throw TestServerError("scripts/pg-cluster start failed (status \(result.status)): \(result.errors)")
        }
        return TestServer(conninfo: String(line), clusterDirectory: root + "/" + name)
    }

    private func stop() {
        guard let clusterDirectory else {
            return
        }
        let script = Self.repositoryRoot.appendingPathComponent("scripts/pg-cluster").path
        _ = try? Self.run(script, ["destroy", clusterDirectory])
    }

    /// Runs `sql` through psql (unaligned, tuples only, stop on the first error) and
    /// returns its standard output.
    func psql(_ sql: String) throws -> String {
        let result = try Self.run(
            "/usr/bin/psql",
            ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo],
            input: sql)
        guard result.status == 0 else {
            throw TestServerError("psql failed (status \(result.status)): \(result.errors)")
        }
        return result.output
    }

    /// Runs a program to completion, its input, output and errors in temporary files.
    /// Uses posix_spawn and waitpid directly: Foundation's `Process.waitUntilExit`
    /// can hang on Linux when the child leaves a daemon behind (pg_ctl does).
    private static func run(
        _ executable: String, _ arguments: [String], input: String? = nil
    ) throws -> (status: Int32, output: String, errors: String) {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("decoder-test-io-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let inputPath = directory.appendingPathComponent("in").path
        let outputPath = directory.appendingPathComponent("out").path
        let errorsPath = directory.appendingPathComponent("err").path
        try Data((input ?? "").utf8).write(to: URL(fileURLWithPath: inputPath))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errorsPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw TestServerError("cannot run \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else {
                throw TestServerError("waitpid for \(executable) failed: \(String(cString: strerror(errno)))")
            }
        }
        // WIFEXITED / WEXITSTATUS, spelled out: Swift does not import the macros.
        let exitStatus: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (
            exitStatus,
            String(decoding: try Data(contentsOf: URL(fileURLWithPath: outputPath)), as: UTF8.self),
            String(decoding: try Data(contentsOf: URL(fileURLWithPath: errorsPath)), as: UTF8.self)
        )
    }
}

struct TestServerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
