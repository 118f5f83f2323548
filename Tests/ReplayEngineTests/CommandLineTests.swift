import Foundation
import Testing

/// The `dbmirror` command behaves as a DBA expects: help, exit codes, libpq conventions.
@Suite("Command line")
struct CommandLineTests {
    @Test("--help lists the subcommands and the exit codes")
    func help() throws {
        let r = try Dbmirror.run(["--help"])
        #expect(r.status == 0)
        for sub in ["add-host", "remove-host", "run", "status", "clean"] {
            #expect(r.stdout.contains(sub), "--help should list \(sub)")
        }
        for sub in ["add-host", "remove-host", "run", "status", "clean"] {
            let s = try Dbmirror.run([sub, "--help"])
            #expect(s.status == 0)
            #expect(s.stdout.contains("--master"), "\(sub) --help should describe --master")
        }
    }

    @Test("an unknown option is a usage error")
    func usageError() throws {
        let r = try Dbmirror.run(["run", "--no-such-option"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("no-such-option"))
    }

    @Test("a master that cannot be reached exits 2 and says why")
    func unreachableMaster() throws {
        let r = try Dbmirror.run(["status", "--master", "host=/nonexistent port=1 dbname=x user=postgres"])
        #expect(r.status == 2)
        #expect(r.stderr.lowercased().contains("connect"), "\(r.stderr)")
    }

    @Test("without --master, the PG* environment variables are used")
    func environment() throws {
        let mirror = try Mirror.make("env", schema: "CREATE TABLE t (id int PRIMARY KEY);", tables: ["t"])
        // Split the master's conninfo into PG* variables.
        var env: [String: String] = [:]
        for part in mirror.master.split(separator: " ") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            switch kv[0] {
            case "host": env["PGHOST"] = kv[1]
            case "port": env["PGPORT"] = kv[1]
            case "user": env["PGUSER"] = kv[1]
            case "dbname": env["PGDATABASE"] = kv[1]
            default: break
            }
        }
        try SQL.run(mirror.master, "INSERT INTO t VALUES (1);")
        let r = try Dbmirror.run(["run", "--once"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        try mirror.expectSlavesEqual(["t"])
    }
}
