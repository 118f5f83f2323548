// DecoderBenchmark: throughput of the PendingDecoder on a realistic corpus.
//
//   swift run -c release --scratch-path .build-decoder DecoderBenchmark [--runs N]
//       [--corpus pgbench|pgbench-whole|wide|long|mixed] [--method walk|decode|single]
//
// Corpora (all rows encoded by PendingEncoder, held in one contiguous buffer):
//   pgbench  the rows a TPC-B transaction queues: the new row of
//            pgbench_accounts, _tellers and _branches (the key and the changed
//            balance; no key row: op 'U'), and the new pgbench_history row
//   pgbench-whole  the same as written before 2026-11-27: a key row and the
//            whole new row (filler included) per update
//   wide     rows of 50 columns of mixed types (ints, numerics, timestamps, text
//            with some quotes, NULLs)
//   long     rows holding one 100 KB text value with some quotes and backslashes
//   mixed    all three together: the "realistic corpus" the target is stated for
// For each: (1) walk = PendingDecoder.forEachColumn, validation only, no
// allocation; (2) decode = the replayer's way: a PendingRowDecoder per chunk of
// 2,000 rows decodes them into shared blocks, and the chunk's rows are held
// until it ends; (3) single = PendingRow(decoding:) row by row, one allocation
// per row, each dropped at once (for information). One thread; the figure is the
// median of the runs, per CPU-second of that thread (the machine is shared);
// MB are 10^6 bytes of encoded input.

import PendingDecoder

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Encoded rows back to back in one buffer, with their boundaries.
struct Corpus {
    let name: String
    var bytes: [UInt8] = []
    var ends: [Int] = []

    init(name: String) {
        self.name = name
    }

    mutating func append(_ columns: [PendingColumn]) {
        bytes.append(contentsOf: PendingEncoder.encodeBytes(columns))
        ends.append(bytes.count)
    }

    mutating func append(contentsOf other: Corpus) {
        let base = bytes.count
        bytes.append(contentsOf: other.bytes)
        ends.append(contentsOf: other.ends.map { $0 + base })
    }

    var rowCount: Int { ends.count }

    /// Calls `body` with each row's bytes.
    func forEachRow(_ body: (UnsafeRawBufferPointer) -> Void) {
        bytes.withUnsafeBytes { all in
            var start = 0
            for end in ends {
                body(UnsafeRawBufferPointer(rebasing: all[start..<end]))
                start = end
            }
        }
    }
}

/// A small deterministic generator (SplitMix64), so every run measures the same corpus.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

func timestamp(_ random: inout SplitMix) -> String {
    let day = 1 + random.below(28)
    let hour = random.below(24)
    let minute = random.below(60)
    let second = random.below(60)
    let micro = random.below(1_000_000)
    func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    var fraction = String(micro)
    fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
    return "2024-05-\(two(day)) \(two(hour)):\(two(minute)):\(two(second)).\(fraction)"
}

/// pgbench at scale 10: 1,000,000 accounts, 100 tellers, 10 branches. The
/// capture writes an update of a row from an earlier transaction that keeps
/// its one-column key as one row, the key and the columns it changed
/// (docs/FORMAT.md, op 'U'): `pgbench`. `pgbench-whole` has the updates' key
/// rows and whole new rows, as the capture wrote them before 2026-11-27 (and
/// still writes for rows the same transaction wrote).
func pgbenchCorpus(transactions: Int, wholeUpdates: Bool = false) -> Corpus {
    var corpus = Corpus(name: wholeUpdates ? "pgbench-whole" : "pgbench")
    var random = SplitMix(state: 1)
    let accountFiller = String(repeating: " ", count: 84)
    /// The new row of an update: the key, the changed column, and the rest if whole.
    func updated(_ key: PendingColumn, _ changed: PendingColumn, rest: [(Int, PendingColumn)]) -> [PendingColumn] {
        guard wholeUpdates else { return [key, changed] }
        var row = [key, changed]
        for (position, column) in rest { row.insert(column, at: position) }
        return row
    }
    for _ in 0..<transactions {
        let aid = 1 + random.below(1_000_000)
        let tid = 1 + random.below(100)
        let bid = 1 + random.below(10)
        let delta = random.below(10_001) - 5000
        if wholeUpdates { corpus.append([.init(name: "aid", value: "\(aid)")]) }
        corpus.append(updated(
            .init(name: "aid", value: "\(aid)"), .init(name: "abalance", value: "\(random.below(200_001) - 100_000)"),
            rest: [(1, .init(name: "bid", value: "\(1 + (aid - 1) / 100_000)")), (3, .init(name: "filler", value: accountFiller))]))
        if wholeUpdates { corpus.append([.init(name: "tid", value: "\(tid)")]) }
        corpus.append(updated(
            .init(name: "tid", value: "\(tid)"), .init(name: "tbalance", value: "\(random.below(2_000_001) - 1_000_000)"),
            rest: [(1, .init(name: "bid", value: "\(bid)")), (3, .init(name: "filler", value: nil))]))
        if wholeUpdates { corpus.append([.init(name: "bid", value: "\(bid)")]) }
        corpus.append(updated(
            .init(name: "bid", value: "\(bid)"), .init(name: "bbalance", value: "\(random.below(20_000_001) - 10_000_000)"),
            rest: [(2, .init(name: "filler", value: nil))]))
        corpus.append([
            .init(name: "tid", value: "\(tid)"), .init(name: "bid", value: "\(bid)"), .init(name: "aid", value: "\(aid)"),
            .init(name: "delta", value: "\(delta)"), .init(name: "mtime", value: timestamp(&random)),
            .init(name: "filler", value: nil),
        ])
    }
    return corpus
}

let plainWords = [
    "order", "shipped", "note", "ok", "pending", "item", "paid", "the", "customer", "asked", "for", "delivery",
    "on", "monday", "invoice", "total", "and", "returned", "box", "damaged",
]
/// Words that need escaping or are not ASCII: about one word in 40.
let awkwardWords = ["customer's", "O'Brien", "C:\\data", "Müller", "réf", "\"quoted\""]

func text(_ random: inout SplitMix, words count: Int) -> String {
    (0..<count).map { _ in
        random.below(40) == 0 ? awkwardWords[random.below(awkwardWords.count)] : plainWords[random.below(plainWords.count)]
    }.joined(separator: " ")
}

/// Rows of 50 columns: ids, amounts, timestamps, flags, short and medium text, some NULLs.
func wideCorpus(rows: Int) -> Corpus {
    var corpus = Corpus(name: "wide")
    var random = SplitMix(state: 2)
    for row in 0..<rows {
        var columns: [PendingColumn] = []
        columns.reserveCapacity(50)
        for column in 0..<50 {
            let name = "attribute_\(column)_" + ["id", "amount", "created_at", "flag", "label", "comment"][column % 6]
            let value: String?
            if random.below(10) == 0 {
                value = nil
            } else {
                switch column % 6 {
                case 0: value = "\(row * 50 + column)"
                case 1: value = "\(random.below(1_000_000)).\(random.below(100))"
                case 2: value = timestamp(&random) + "+02"
                case 3: value = random.below(2) == 0 ? "t" : "f"
                case 4: value = text(&random, words: 1 + random.below(3))
                default: value = text(&random, words: 4 + random.below(12))
                }
            }
            columns.append(PendingColumn(name: name, value: value))
        }
        corpus.append(columns)
    }
    return corpus
}

/// Rows with an id, a title and one 100 KB body of prose with a quote or backslash every ~200 bytes.
func longCorpus(rows: Int) -> Corpus {
    var corpus = Corpus(name: "long")
    var random = SplitMix(state: 3)
    for row in 0..<rows {
        var body = ""
        body.reserveCapacity(102_400)
        while body.utf8.count < 102_400 {
            body += text(&random, words: 30) + (random.below(4) == 0 ? "\n" : " ")
        }
        corpus.append([
            .init(name: "id", value: "\(row)"), .init(name: "title", value: "Document \(row)"),
            .init(name: "body", value: body),
        ])
    }
    return corpus
}

/// Walks every row, touching each field so nothing is optimized away.
@inline(never)
func walkAll(_ corpus: Corpus) -> Int {
    var checksum = 0
    corpus.forEachRow { row in
        do {
            try PendingDecoder.forEachColumn(in: row) { field in
                checksum &+= field.valueCount &+ field.nameCount &+ (field.isNull ? 1 : 0)
            }
        } catch {
            fatalError("benchmark corpus row failed to decode: \(error)")
        }
    }
    return checksum
}

/// Rows per chunk in `decodeAll`: the replayer decodes a chunk of the queue
/// of a few thousand rows (up to 8 MB) with one PendingRowDecoder.
let chunkRows = 2_000

/// Decodes every row as the replayer does: a PendingRowDecoder per chunk of
/// `chunkRows` rows, the chunk's rows held until the chunk is done.
@inline(never)
func decodeAll(_ corpus: Corpus) -> Int {
    var checksum = 0
    var chunk: [PendingRow] = []
    chunk.reserveCapacity(chunkRows)
    var decoder = PendingRowDecoder()
    corpus.forEachRow { bytes in
        if chunk.count == chunkRows {
            chunk.removeAll(keepingCapacity: true)
            decoder = PendingRowDecoder()
        }
        do {
            let row = try decoder.decode(bytes)
            checksum &+= row.count
            chunk.append(row)
        } catch {
            fatalError("benchmark corpus row failed to decode: \(error)")
        }
    }
    return checksum
}

/// Decodes every row on its own with PendingRow(decoding:), dropping it at once.
@inline(never)
func decodeEachAll(_ corpus: Corpus) -> Int {
    var checksum = 0
    corpus.forEachRow { bytes in
        do {
            let row = try PendingRow(decoding: bytes)
            checksum &+= row.count
        } catch {
            fatalError("benchmark corpus row failed to decode: \(error)")
        }
    }
    return checksum
}

func seconds(_ duration: Duration) -> Double {
    let (whole, attoseconds) = duration.components
    return Double(whole) + Double(attoseconds) / 1e18
}

func grouped(_ value: Double, decimals: Int = 0) -> String {
    let scale = decimals == 0 ? 1.0 : pow(10.0, Double(decimals))
    let rounded = (value * scale).rounded() / scale
    let whole = Int(rounded)
    var digits = String(whole)
    var index = digits.count - 3
    while index > 0 {
        digits.insert(",", at: digits.index(digits.startIndex, offsetBy: index))
        index -= 3
    }
    if decimals > 0 {
        let fraction = Int(((rounded - Double(whole)) * scale).rounded())
        var text = String(fraction)
        text = String(repeating: "0", count: decimals - text.count) + text
        digits += "." + text
    }
    return digits
}

/// CPU time of the calling thread, in seconds. The machine is shared, so rates are
/// per CPU-second of the benchmark's one thread; wall-clock rates are printed too.
func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// Runs `work` over the corpus `runs` times (each run repeats it until it has used
/// ≥ 0.2 s of CPU) and prints the median rate.
func measure(_ method: String, _ corpus: Corpus, runs: Int, _ work: (Corpus) -> Int) {
    var rates: [Double] = []
    var wallRates: [Double] = []
    var checksum = 0
    checksum &+= work(corpus)  // warm-up
    for _ in 0..<runs {
        var passes = 0
        let clock = ContinuousClock()
        let wallStart = clock.now
        let start = threadCPUSeconds()
        var elapsed = 0.0
        repeat {
            checksum &+= work(corpus)
            passes += 1
            elapsed = threadCPUSeconds() - start
        } while elapsed < 0.2
        rates.append(Double(passes) / elapsed)
        wallRates.append(Double(passes) / seconds(clock.now - wallStart))
    }
    rates.sort()
    wallRates.sort()
    let passesPerSecond = rates[rates.count / 2]
    let megabytes = passesPerSecond * Double(corpus.bytes.count) / 1e6
    let rows = passesPerSecond * Double(corpus.rowCount)
    let wallMegabytes = wallRates[wallRates.count / 2] * Double(corpus.bytes.count) / 1e6
    func padded(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }
    print(
        padded(corpus.name, 7) + " " + padded(method, 6) + padded(grouped(megabytes, decimals: 1), 10) + " MB/s"
            + padded(grouped(rows), 12) + " rows/s   (wall clock \(grouped(wallMegabytes, decimals: 1)) MB/s;"
            + " \(grouped(Double(corpus.rowCount))) rows, \(grouped(Double(corpus.bytes.count) / 1e6, decimals: 1)) MB;"
            + " checksum \(checksum % 1000))"
    )
}

var runs = 7
var onlyCorpus: String?
var onlyMethod: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--runs":
        guard let text = arguments.popFirst(), let value = Int(text), value > 0 else {
            print("DecoderBenchmark: --runs needs a positive whole number")
            exit(2)
        }
        runs = value
    case "--corpus":
        onlyCorpus = arguments.popFirst()
    case "--method":
        onlyMethod = arguments.popFirst()
    default:
        print(
            "DecoderBenchmark: unknown argument '\(argument)'; usage: DecoderBenchmark [--runs N]"
                + " [--corpus pgbench|pgbench-whole|wide|long|mixed] [--method walk|decode|single]")
        exit(2)
    }
}

let pgbench = pgbenchCorpus(transactions: 20_000)
let pgbenchWhole = pgbenchCorpus(transactions: 20_000, wholeUpdates: true)
let wide = wideCorpus(rows: 4_000)
let long = longCorpus(rows: 40)
var mixed = Corpus(name: "mixed")
mixed.append(contentsOf: pgbench)
mixed.append(contentsOf: wide)
mixed.append(contentsOf: long)

// The measured paths must decode the corpus correctly: check before timing.
for corpus in [pgbench, pgbenchWhole, wide, long] {
    var decodedRows = 0
    let decoder = PendingRowDecoder()
    corpus.forEachRow { bytes in
        guard let row = try? PendingRow(decoding: bytes), PendingEncoder.encodeBytes(row).elementsEqual(bytes),
            (try? decoder.decode(bytes)) == row
        else {
            fatalError("\(corpus.name): a row does not round-trip")
        }
        decodedRows += 1
    }
    precondition(decodedRows == corpus.rowCount)
}

print("command: swift run -c release --scratch-path .build-decoder DecoderBenchmark --runs \(runs)")
print("rates per CPU-second of one thread, median of \(runs) runs; MB = 10^6 bytes of encoded input")
for corpus in [pgbench, pgbenchWhole, wide, long, mixed] where onlyCorpus == nil || onlyCorpus == corpus.name {
    if onlyMethod == nil || onlyMethod == "walk" {
        measure("walk", corpus, runs: runs, walkAll)
    }
    if onlyMethod == nil || onlyMethod == "decode" {
        measure("decode", corpus, runs: runs, decodeAll)
    }
    if onlyMethod == nil || onlyMethod == "single" {
        measure("single", corpus, runs: runs, decodeEachAll)
    }
}
