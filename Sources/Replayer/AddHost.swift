import ArgumentParser
import ReplayEngine

struct AddHost: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-host",
        abstract: "Register a slave on the master.",
        discussion: """
            The new host is sent every transaction that commits on the master after it \
            is registered; copy the mirrored tables to it first. The connection string \
            must not hold a password: put passwords in the replayer's ~/.pgpass or a \
            service file.
            """)

    @Argument(help: "A name for the slave, unique on this master.")
    var name: String

    @Option(name: .long, help: ArgumentHelp(
        "The slave's libpq connection string or postgresql:// URI, as the replayer will use it.",
        valueName: "conninfo"))
    var conninfo: String

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let logger = options.makeLogger()
        try await Outcome.report(logger) { () throws(ReplayError) in
            try await Administration.addHost(name: name, conninfo: conninfo, master: options.master, logger: logger)
        }
    }
}

struct RemoveHost: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove-host",
        abstract: "Unregister a slave, and forget what the master recorded about it.",
        discussion: """
            `dbmirror clean` then deletes the queued changes only this host still needed. \
            The slave's own dbmirror.progress row stays: if the host is added again, \
            re-copy its tables and delete that row first.
            """)

    @Argument(help: "The name the slave was registered under.")
    var name: String

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let logger = options.makeLogger()
        try await Outcome.report(logger) { () throws(ReplayError) in
            try await Administration.removeHost(name: name, master: options.master, logger: logger)
        }
    }
}
