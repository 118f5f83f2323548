import ArgumentParser
import Logging
import ReplayEngine

/// Turns engine failures into a logged message and the documented exit status.
enum Outcome {
    static func report(_ logger: Logger, _ body: () async throws(ReplayError) -> Void) async throws {
        do throws(ReplayError) {
            try await body()
        } catch {
            logger.error("\(error)")
            throw ExitCode(status(for: error))
        }
    }

    /// 2 for usage errors and an unusable master, 1 for a failed host.
    static func status(for error: ReplayError) -> Int32 {
        error.kind == .usage || error.kind == .master ? ExitStatus.usageOrConnection : ExitStatus.hostFailed
    }
}
