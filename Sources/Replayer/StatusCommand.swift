import ArgumentParser
import Foundation
import ReplayEngine

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how far each slave is behind the master.",
        discussion: """
            For each host: its name, its connection string without password, the last \
            master transaction (XID) applied, the transactions and changes still queued \
            for it, the seconds since it was last caught up when it is behind, and its \
            state: "caught up", "behind", or "error: MESSAGE" when replaying to it stopped \
            on an error. Read from the master's records, which trail the slaves' own \
            progress by a batch at most.
            """)

    @Flag(name: .long, help: "Print a JSON array of host objects instead of a table.")
    var json = false

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let logger = options.makeLogger()
        let json = self.json
        try await Outcome.report(logger) { () throws(ReplayError) in
            let statuses = try await StatusReport.read(master: options.master, logger: logger)
            let text: String
            if json {
                do {
                    text = try StatusFormatter.json(statuses)
                } catch {
                    throw ReplayError(.usage, "cannot encode the status as JSON: \(error)")
                }
            } else {
                text = StatusFormatter.table(statuses)
            }
            print(text)
        }
    }
}

struct Clean: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete from the master's queue every change all hosts have applied.",
        discussion: """
            `dbmirror run` does this as it goes; this command is for after removing a host, \
            or when no replayer runs. A host the master has no record for blocks cleanup.
            """)

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let logger = options.makeLogger()
        try await Outcome.report(logger) { () throws(ReplayError) in
            let cleanup = try await QueueCleaner.cleanAll(master: options.master, logger: logger)
            print(cleanup)
        }
    }
}
