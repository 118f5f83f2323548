import ArgumentParser
import LibPQ
import Logging

/// Options every subcommand takes.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The master's libpq connection string or postgresql:// URI.",
        discussion: "Without it, libpq's defaults apply: the PG* environment variables, the password file and service files.",
        valueName: "conninfo"))
    var master: String?

    @Option(name: .long, help: ArgumentHelp(
        "How much to log on standard error: trace, debug, info, notice, warning, error or critical.",
        valueName: "level"))
    var logLevel: Logger.Level = .info

    /// Sets up logging for the process and returns the command's logger.
    func makeLogger() -> Logger {
        LoggingSetup.bootstrap(level: logLevel)
        let logger = Logger(label: "dbmirror")
        if let master, ConnInfo.containsPassword(master) {
            logger.warning("--master holds a password, which other users can see in the process list; put it in ~/.pgpass or a service file instead")
        }
        return logger
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
