import Foundation

/// The outcome of a finished child process.
struct CommandOutput: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Failures of the test harness itself (not of the code under test).
struct HarnessError: Error, CustomStringConvertible {
    var description: String
}

/// Runs programs for the end-to-end tests, with output captured through
/// files (so large outputs cannot dead-lock a pipe) and a time limit.
enum Command {
    /// Runs `executable` with `arguments` and waits for it.
    ///
    /// - Parameters:
    ///   - environment: variables added to (or replacing) this process's.
    ///   - timeout: seconds after which the child is killed and an error thrown.
    static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        input: String? = nil,
        timeout: Double = 300
    ) throws -> CommandOutput {
        let process = try start(executable, arguments, environment: environment, input: input)
        return try process.wait(timeout: timeout)
    }

    /// Starts a child and returns at once; `RunningCommand.wait` collects it.
    static func start(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        input: String? = nil
    ) throws -> RunningCommand {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("dbmirror-cmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let out = dir.appendingPathComponent("stdout")
        let err = dir.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: resolve(executable))
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        if let input {
            let inFile = dir.appendingPathComponent("stdin")
            try input.write(to: inFile, atomically: true, encoding: .utf8)
            process.standardInput = try FileHandle(forReadingFrom: inFile)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        return RunningCommand(process: process, directory: dir, description: ([executable] + arguments).joined(separator: " "))
    }

    /// Finds a program on PATH (and in PostgreSQL's bindir) unless given a path.
    static func resolve(_ name: String) -> String {
        if name.contains("/") { return name }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
            .split(separator: ":").map(String.init) + ["/usr/lib/postgresql/15/bin"]
        for dir in path {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return name
    }
}

/// A child process started by `Command.start`.
final class RunningCommand: @unchecked Sendable {
    let process: Process
    let directory: URL
    let description: String

    init(process: Process, directory: URL, description: String) {
        self.process = process
        self.directory = directory
        self.description = description
    }

    var pid: Int32 { process.processIdentifier }

    /// Sends `signal` to the child.
    func kill(_ signal: Int32) {
        _ = Foundation.kill(process.processIdentifier, signal)
    }

    /// What the child has written to stderr so far.
    func currentStderr() -> String {
        (try? String(contentsOf: directory.appendingPathComponent("stderr"), encoding: .utf8)) ?? ""
    }

    /// Waits for the child to end; kills it and throws after `timeout` seconds.
    func wait(timeout: Double = 300) throws -> CommandOutput {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                Thread.sleep(forTimeInterval: 0.5)
                if process.isRunning { kill(SIGKILL) }
                throw HarnessError(description: "timed out after \(timeout) s: \(description)\n\(currentStderr())")
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        process.waitUntilExit()
        let out = (try? String(contentsOf: directory.appendingPathComponent("stdout"), encoding: .utf8)) ?? ""
        let err = currentStderr()
        try? FileManager.default.removeItem(at: directory)
        return CommandOutput(status: process.terminationStatus, stdout: out, stderr: err)
    }
}
