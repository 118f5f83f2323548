/// The arithmetic of a comparison, apart from any connection: which buckets
/// differ, and which keys differ within a bucket.
enum BucketDiff {
    /// A bucket's row count and sum of row hashes (as text: it is a numeric).
    struct Summary: Equatable, Sendable {
        var rows: Int
        var hashSum: String
    }

    /// The buckets whose summaries differ, in ascending order (a bucket only
    /// one side has differs).
    static func differingBuckets(master: [Int: Summary], slave: [Int: Summary]) -> [Int] {
        Set(master.keys).union(slave.keys).filter { master[$0] != slave[$0] }.sorted()
    }

    /// One row as the rows cursor returns it.
    struct Row: Sendable {
        var bucket: Int
        var key: String
        var hash: String
    }

    /// The differing keys of one table, counted, with a sample of each kind.
    struct Differences: Sendable {
        var sampleLimit: Int
        private(set) var changed = KeySample()
        private(set) var missingOnSlave = KeySample()
        private(set) var extraOnSlave = KeySample()

        init(sampleLimit: Int = 10) { self.sampleLimit = sampleLimit }

        var isEmpty: Bool { changed.count + missingOnSlave.count + extraOnSlave.count == 0 }

        /// Adds the differences between one bucket's rows on each side.
        mutating func add(master: [Row], slave: [Row]) {
            var remaining: [String: String] = [:]
            remaining.reserveCapacity(master.count)
            for row in master { remaining[row.key] = row.hash }
            for row in slave {
                if let hash = remaining.removeValue(forKey: row.key) {
                    if hash != row.hash { changed.add(row.key, limit: sampleLimit) }
                } else {
                    extraOnSlave.add(row.key, limit: sampleLimit)
                }
            }
            for key in remaining.keys.sorted() {
                missingOnSlave.add(key, limit: sampleLimit)
            }
        }
    }

    /// How many keys differ one way, and up to a limit of them.
    struct KeySample: Sendable, Equatable {
        var count = 0
        var keys: [String] = []

        mutating func add(_ key: String, limit: Int) {
            count += 1
            if keys.count < limit { keys.append(key) }
        }
    }
}
