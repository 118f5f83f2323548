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

        // posix_spawn and waitpid on the child alone: Foundation's Process
        // waits for grandchildren too, and pg_ctl leaves a server running.
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let inPath: String
        if let input {
            let inFile = dir.appendingPathComponent("stdin")
            try input.write(to: inFile, atomically: true, encoding: .utf8)
            inPath = inFile.path
        } else {
            inPath = "/dev/null"
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out.path, O_WRONLY | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, err.path, O_WRONLY | O_TRUNC, 0o644)

        let path = resolve(executable)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // The child starts with no blocked signals and default handlers:
        // the test runner's threads block some (pgbench -T needs SIGALRM).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var everySignal = sigset_t()
        sigfillset(&everySignal)
        posix_spawnattr_setsigdefault(&attributes, &everySignal)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            throw HarnessError(description: "cannot start \(path): \(String(cString: strerror(rc)))")
        }
        return RunningCommand(pid: pid, directory: dir, description: ([executable] + arguments).joined(separator: " "))
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
    let pid: pid_t
    let directory: URL
    let description: String
    private var exitStatus: Int32?

    init(pid: pid_t, directory: URL, description: String) {
        self.pid = pid
        self.directory = directory
        self.description = description
    }

    /// Whether the child has not ended yet (reaps it when it has).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid {
            // Exit code, or 128 + signal as a shell reports it.
            let signal = status & 0x7f
            exitStatus = signal == 0 ? (status >> 8) & 0xff : 128 + signal
            return false
        }
        return r == 0
    }

    /// Sends `signal` to the child.
    func kill(_ signal: Int32) {
        _ = Glibc.kill(pid, signal)
    }

    /// What the child has written to stderr so far.
    func currentStderr() -> String {
        (try? String(contentsOf: directory.appendingPathComponent("stderr"), encoding: .utf8)) ?? ""
    }

    /// Waits for the child to end; kills it and throws after `timeout` seconds.
    func wait(timeout: Double = 300) throws -> CommandOutput {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning {
            if Date() > deadline {
                kill(SIGTERM)
                Thread.sleep(forTimeInterval: 0.5)
                if isRunning { kill(SIGKILL) }
                while isRunning { Thread.sleep(forTimeInterval: 0.01) }
                throw HarnessError(description: "timed out after \(timeout) s: \(description)\n\(currentStderr())")
            }
            Thread.sleep(forTimeInterval: 0.005)
        }
        let out = (try? String(contentsOf: directory.appendingPathComponent("stdout"), encoding: .utf8)) ?? ""
        let err = currentStderr()
        try? FileManager.default.removeItem(at: directory)
        return CommandOutput(status: exitStatus ?? -1, stdout: out, stderr: err)
    }
}
