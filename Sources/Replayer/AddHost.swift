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

            With --copy it copies the current contents of every mirrored table to the \
            slave, from one master snapshot, and the replayer then applies exactly the \
            transactions that snapshot did not see; the master keeps taking writes. The \
            slave's copies are emptied first. Running it again, also after an \
            interruption, starts the copy over (for a registered host too).
            """)

    @Argument(help: "A name for the slave, unique on this master.")
    var name: String

    @Option(name: .long, help: ArgumentHelp(
        "The slave's libpq connection string or postgresql:// URI, as the replayer will use it.",
        valueName: "conninfo"))
    var conninfo: String

    @Flag(name: .long, help: "Copy the mirrored tables' current contents to the slave.")
    var copy = false

    @Flag(name: .long, help: "With --copy: create the mirrored tables the slave lacks, from the master's definitions (pg_dump), with their primary keys.")
    var createTables = false

    @Option(name: .long, help: ArgumentHelp("With --copy: copy up to this many tables at once.", valueName: "n"))
    var jobs: Int = 1

    @OptionGroup var options: CommonOptions

    func validate() throws {
        if !copy && (createTables || jobs != 1) {
            throw ValidationError("--create-tables and --jobs only go with --copy")
        }
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    func run() async throws {
        let logger = options.makeLogger()
        if copy {
            let (name, conninfo, master) = (self.name, self.conninfo, options.master)
            let copyOptions = CopyOptions(createTables: createTables, jobs: jobs)
            try await Outcome.report(logger) { () throws(ReplayError) in
                let outcome = await Signals.cancellingOnTermination(logger: logger) { () async -> Result<Void, ReplayError> in
                    do throws(ReplayError) {
                        return .success(try await InitialCopy.addHost(name: name, conninfo: conninfo, master: master,
                                                                      options: copyOptions, logger: logger))
                    } catch {
                        return .failure(error)
                    }
                }
                try outcome.get()
            }
            return
        }
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
