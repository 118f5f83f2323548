import Foundation
import Logging

/// Reports one table's copy on the log (standard error for the command):
/// rows and megabytes so far, the rate, and the time left estimated from
/// the master's statistics (`pg_class.reltuples` scaled to the table's
/// current size). At most one line every `interval` seconds.
struct CopyProgress {
    let table: String
    let estimatedRows: Double?
    let logger: Logger
    let interval: Double
    private let start = ContinuousClock.now
    private var lastReport = ContinuousClock.now
    private(set) var rows = 0
    private(set) var bytes = 0

    init(table: String, estimatedRows: Double?, logger: Logger, interval: Double = 2) {
        self.table = table
        self.estimatedRows = estimatedRows
        self.logger = logger
        self.interval = interval
        var line = "copying \(table)"
        if let estimatedRows { line += " (about \(Self.count(estimatedRows)) rows)" }
        logger.info("\(line)")
    }

    var elapsed: Double { Self.seconds(ContinuousClock.now - start) }

    /// Notes the rows and bytes copied so far; logs a line when one is due.
    mutating func update(rows: Int, bytes: Int) {
        self.rows = rows
        self.bytes = bytes
        let now = ContinuousClock.now
        guard Self.seconds(now - lastReport) >= interval else { return }
        lastReport = now
        logger.info("\(line(final: false))")
    }

    /// Logs the table's total.
    func finish() {
        logger.info("\(line(final: true))")
    }

    /// The progress line: `copying t: 1,200,000 rows (~12%), 61.2 MB, 400,000 rows/s (20.4 MB/s), ~22 s left`.
    func line(final: Bool) -> String {
        let seconds = max(elapsed, 0.001)
        let rate = Double(rows) / seconds
        var text = final ? "copied \(table): \(Self.count(Double(rows))) rows" : "copying \(table): \(Self.count(Double(rows))) rows"
        if !final, let estimatedRows, estimatedRows >= 1 {
            text += " (~\(min(99, Int(Double(rows) * 100 / estimatedRows)))%)"
        }
        text += ", \(Self.megabytes(bytes)) MB"
        if final { text += " in \(String(format: "%.1f", seconds)) s" }
        text += ", \(Self.count(rate)) rows/s (\(Self.megabytes(Int(Double(bytes) / seconds))) MB/s)"
        if !final, let estimatedRows, rate > 0 {
            let left = max(0, estimatedRows - Double(rows)) / rate
            text += rows < Int(estimatedRows) ? ", ~\(Int(left.rounded(.up))) s left" : ", finishing"
        }
        return text
    }

    /// `1234567` as `1,234,567`.
    static func count(_ value: Double) -> String {
        let digits = String(Int(value.rounded()))
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 && character != "-" { out.append(",") }
            out.append(character)
        }
        return out
    }

    static func megabytes(_ bytes: Int) -> String {
        String(format: "%.1f", Double(bytes) / 1_048_576)
    }

    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
