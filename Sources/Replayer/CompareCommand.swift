import ArgumentParser
import Foundation
import ReplayEngine

struct Compare: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that each slave's mirrored tables equal the master's.",
        discussion: """
            For each host, the slave is first caught up to a fresh master snapshot (the \
            queued changes are applied, with its progress row locked, as a replayed batch \
            would), then every mirrored table is compared on both sides at that same \
            master state: row counts and order-independent checksums of the rows, in one \
            pass per table and side. Columns are compared by name in the master's order. \
            For a table that differs, the differing keys are named: changed, missing on \
            the slave, extra on the slave (up to ten of each).

            Exit status: 0 when every compared table is equal; 1 when any differs or is \
            missing on a slave; 2 for a usage error or when a host or the master could \
            not be compared.
            """)

    @Option(name: .customLong("host"), help: ArgumentHelp(
        "Compare only this host (repeat for several); all hosts when omitted.", valueName: "name"))
    var hosts: [String] = []

    @Option(name: .customLong("table"), help: ArgumentHelp(
        "Compare only this mirrored table, as the master names it (repeat for several); all when omitted.",
        valueName: "table"))
    var tables: [String] = []

    @Flag(name: .long, help: "Print a JSON array of host objects instead of lines.")
    var json = false

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let logger = options.makeLogger()
        let (master, hosts, tables, json) = (options.master, self.hosts, self.tables, self.json)
        let outcome = await Signals.cancellingOnTermination(logger: logger) { () async -> Result<[HostComparison], ReplayError> in
            do throws(ReplayError) {
                return .success(try await Comparison.run(master: master, hosts: hosts, tables: tables, logger: logger))
            } catch {
                return .failure(error)
            }
        }
        let results: [HostComparison]
        switch outcome {
        case .success(let value):
            results = value
        case .failure(let error):
            logger.error("\(error)")
            throw ExitCode(ExitStatus.usageOrConnection)
        }
        if json {
            do {
                print(try ComparisonFormatter.json(results))
            } catch {
                logger.error("cannot encode the comparison as JSON: \(error)")
                throw ExitCode(ExitStatus.usageOrConnection)
            }
        } else {
            print(ComparisonFormatter.text(results))
        }
        if results.contains(where: { $0.error != nil }) { throw ExitCode(ExitStatus.usageOrConnection) }
        if !results.allSatisfy(\.isEqual) { throw ExitCode(ExitStatus.hostFailed) }
    }
}
