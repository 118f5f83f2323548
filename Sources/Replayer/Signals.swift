import Dispatch
import Foundation
import Logging

/// SIGINT and SIGTERM cancel the work in progress, which then stops cleanly.
enum Signals {
    /// Runs `body`, cancelling it on SIGINT or SIGTERM; returns its result.
    static func cancellingOnTermination<T: Sendable>(
        logger: Logger, _ body: @escaping @Sendable () async -> T
    ) async -> T {
        let task = Task { await body() }
        let sources = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                logger.info("received \(number == SIGINT ? "SIGINT" : "SIGTERM"); stopping")
                task.cancel()
            }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        return await task.value
    }
}
