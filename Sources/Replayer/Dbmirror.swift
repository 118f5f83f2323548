import ArgumentParser
import Foundation
import Logging

/// The `dbmirror` command: replicates a PostgreSQL master to its slaves.
@main
struct Dbmirror: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dbmirror",
        abstract: "Replicate the changes queued on a PostgreSQL master to every registered slave.",
        discussion: """
            The master's capture trigger queues every change of a mirrored table; \
            `dbmirror run` applies them to each slave listed in "MirrorHost", one \
            slave transaction per batch of committed master transactions, and \
            keeps the slave's progress in that same transaction.

            Every command finds the master the libpq way: --master takes a \
            connection string or a postgresql:// URI, and without it the PG* \
            environment variables, the password file and service files apply.

            Exit status: 0 on success; 1 when a host failed or is not caught up; \
            2 for a usage error or when the master cannot be reached.
            """,
        subcommands: [AddHost.self, RemoveHost.self, Run.self, Status.self, Clean.self, CopyTable.self, Compare.self]
    )

    /// Parses, runs, and maps every failure to the documented exit codes.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                // Usage errors: argument parser's message, then our exit code 2.
                let message = fullMessage(for: error)
                FileHandle.standardError.write(Data((message + "\n").utf8))
                Foundation.exit(ExitStatus.usageOrConnection)
            }
            exit(withError: error)
        }
    }
}

/// The process exit statuses, as documented in the help.
enum ExitStatus {
    static let success: Int32 = 0
    static let hostFailed: Int32 = 1
    static let usageOrConnection: Int32 = 2
}
