import ArgumentParser
import ReplayEngine

struct CopyTable: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy-table",
        abstract: "Copy one mirrored table's current contents to a slave that is already replicating.",
        discussion: """
            For a table mirrored (dbmirror_add_table) after the host was added. With the \
            slave's progress row locked (a running replayer waits), the slave is caught up \
            to a fresh master snapshot, the table's own queued changes skipped; the table \
            is emptied on the slave and copied from that same snapshot, and the progress \
            advances to it, all in one slave transaction. Every other table keeps getting \
            each change exactly once, and the master is never paused.
            """)

    @Argument(help: "The mirrored table, as the master names it (e.g. orders or sales.orders).")
    var table: String

    @Option(name: .customLong("host"), help: ArgumentHelp(
        "The slave to copy it to (repeat for several).", valueName: "name"))
    var hosts: [String] = []

    @Flag(name: .long, help: "Create the table on the slave first if it lacks it, from the master's definition (pg_dump), with its primary key.")
    var createTable = false

    @OptionGroup var options: CommonOptions

    func validate() throws {
        if hosts.isEmpty { throw ValidationError("name the slave(s) to copy to with --host") }
    }

    func run() async throws {
        let logger = options.makeLogger()
        let (table, hosts, master, createTable) = (self.table, self.hosts, options.master, self.createTable)
        try await Outcome.report(logger) { () throws(ReplayError) in
            let outcome = await Signals.cancellingOnTermination(logger: logger) { () async -> Result<Void, ReplayError> in
                do throws(ReplayError) {
                    return .success(try await TableRecopy.copy(table: table, hosts: hosts, master: master,
                                                               createTable: createTable, logger: logger))
                } catch {
                    return .failure(error)
                }
            }
            try outcome.get()
        }
    }
}
