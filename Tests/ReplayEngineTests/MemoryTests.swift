import Foundation
import Testing

/// A large master transaction streams through with bounded replayer memory.
@Suite("Memory")
struct MemoryTests {
    @Test("a 300,000-row transaction replays with peak RSS under 100 MB")
    func largeTransaction() throws {
        let mirror = try Mirror.make("memory", schema: """
            CREATE TABLE wide (id int PRIMARY KEY, a text, b text, c int, d timestamptz);
            """, tables: ["wide"], slaves: [try Clusters.slave1])
        try SQL.run(mirror.master, """
            INSERT INTO wide SELECT g, md5(g::text), repeat('y', 100), g, now() FROM generate_series(1, 300000) g;
            """, timeout: 600)
        let time = "/usr/bin/time"
        #expect(FileManager.default.isExecutableFile(atPath: time), "GNU time is needed (scripts/setup installs it)")
        let r = try Command.run(time, ["-f", "maxrss_kb=%M", try Dbmirror.path, "run", "--once", "--master", mirror.master],
                                timeout: 900)
        #expect(r.status == 0, "\(r.stderr.suffix(2000))")
        let kb = r.stderr.split(separator: "\n").compactMap { line -> Int? in
            line.hasPrefix("maxrss_kb=") ? Int(line.dropFirst("maxrss_kb=".count)) : nil
        }.last
        #expect(kb != nil)
        #expect((kb ?? .max) < 100 * 1024, "peak RSS \(kb ?? -1) kB")
        try mirror.expectSlavesEqual(["wide"])
    }
}
