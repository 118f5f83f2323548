import ArgumentParser
import Dispatch
import Foundation
import Logging
import ReplayEngine

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the master's queued changes to the slaves.",
        discussion: """
            Each slave gets the changes of every master transaction that committed since \
            its progress, in one slave transaction per batch that also advances its \
            progress (the table dbmirror.progress on the slave), so a change is applied \
            exactly once whatever fails when.

            Without --once the command runs until SIGINT or SIGTERM: it wakes on the \
            master's notifications (with a timer as a fall-back, --poll-interval), picks up added and \
            removed hosts, retries a failed host with a growing delay (1 s to 60 s), and \
            deletes applied changes from the queue. While changes keep coming it starts a \
            batch at most every --batch-interval seconds, so that a busy master pays for \
            fewer, larger batches. On a signal it rolls back the batch in progress and \
            exits with status 0.

            With --once it applies everything committed before it started and exits: 0 \
            when every selected host is caught up, 1 when any failed (the error is logged \
            and shown by `dbmirror status`), 2 when the master cannot be used.
            """)

    @Flag(name: .long, help: "Apply what is committed now to every selected host, then exit.")
    var once = false

    @Option(name: .customLong("host"), help: ArgumentHelp(
        "Replay only to this host (repeat for several); all hosts when omitted.", valueName: "name"))
    var hosts: [String] = []

    @Option(name: .customLong("poll-interval"), help: ArgumentHelp(
        "Without --once: with no notification from the master, look for changes this often.",
        valueName: "seconds"))
    var pollInterval: Double = 5

    @Option(name: .customLong("batch-interval"), help: ArgumentHelp(
        "Without --once: while changes keep coming, start a batch at most this often (0: at once).",
        valueName: "seconds"))
    var batchInterval: Double = 0.05

    @OptionGroup var options: CommonOptions

    func validate() throws {
        guard pollInterval > 0, pollInterval <= 86_400 else {
            throw ValidationError("--poll-interval must be more than 0 and at most 86400 seconds, not \(pollInterval)")
        }
        guard batchInterval >= 0, batchInterval <= 3_600 else {
            throw ValidationError("--batch-interval must be from 0 to 3600 seconds, not \(batchInterval)")
        }
    }

    func run() async throws {
        let logger = options.makeLogger()
        var settings = ReplaySettings(masterConninfo: options.master)
        settings.hostNames = hosts
        settings.idleInterval = .milliseconds(Int((pollInterval * 1000).rounded(.up)))
        settings.batchInterval = .microseconds(Int((batchInterval * 1_000_000).rounded()))
        let service = ReplayService(settings: settings, logger: logger)
        let once = self.once
        try await Outcome.report(logger) { () throws(ReplayError) in
            let outcome = await Signals.cancellingOnTermination(logger: logger) { () async -> Result<[ReplayService.HostOutcome], ReplayError> in
                do throws(ReplayError) {
                    if once {
                        return .success(try await service.runOnce())
                    }
                    try await service.run()
                    return .success([])
                } catch {
                    return .failure(error)
                }
            }
            let outcomes = try outcome.get()
            let failed = outcomes.filter { $0.error != nil }
            if once, !failed.isEmpty {
                logger.error("not caught up: \(failed.map(\.host).joined(separator: ", "))")
                throw ReplayError(.slave, "\(failed.count) of \(outcomes.count) host(s) failed")
            }
        }
    }
}
