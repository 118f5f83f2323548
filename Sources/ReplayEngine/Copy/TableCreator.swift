import Foundation
import LibPQ
import Logging

/// Creates mirrored tables a slave lacks from the master's definitions:
/// `pg_dump --schema-only --section=pre-data` for the tables themselves
/// (columns, types, defaults, the sequences they own), and each table's
/// primary key from the master's catalog. Triggers, other indexes and
/// foreign keys are not carried (the capture trigger must not run on a slave).
///
/// The slave must already have the types and schemas the columns use,
/// except the tables' own schemas, which are created when missing.
struct TableCreator {
    var masterConninfo: String?
    var logger: Logger
    /// The pg_dump program: `DBMIRROR_PG_DUMP`, else `pg_dump` from PATH or PostgreSQL's bindir.
    var pgDump: String = TableCreator.findPgDump()

    /// Creates `tables` (each absent on the slave) in one transaction
    /// through `slave`, a connection of its own: the dump's SET commands
    /// change its session.
    func create(_ tables: [MirroredTable], master: Connection, slave: Connection) throws(ReplayError) {
        guard !tables.isEmpty else { return }
        let names = tables.map(\.captureName).joined(separator: ", ")
        logger.info("creating \(tables.count) table(s) on the slave from the master's definitions: \(names)")
        var script = "SET client_min_messages = warning;\n"
        for schema in Set(tables.map(\.schema)).sorted() {
            script += "CREATE SCHEMA IF NOT EXISTS \(SQLIdentifier.quote(schema));\n"
        }
        script += try dump(tables)
        for table in tables {
            script += try primaryKey(of: table, on: master)
        }
        do throws(PostgresError) {
            try slave.executeScript("BEGIN;\n" + script + "\nCOMMIT;")
        } catch {
            if slave.isOpen { _ = try? slave.executeScript("ROLLBACK") }
            throw ReplayError(.slave, "cannot create \(names) on the slave from pg_dump's definition: \(ReplayError.serverText(error))",
                              postgres: error)
        }
    }

    /// `ALTER TABLE … ADD CONSTRAINT … PRIMARY KEY (…)` as the master has it; empty when it has none.
    private func primaryKey(of table: MirroredTable, on master: Connection) throws(ReplayError) -> String {
        do throws(PostgresError) {
            let result = try master.execute("""
                SELECT conname, pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint
                WHERE conrelid = $1::oid AND contype = 'p'
                """, [table.oid])
            guard let name = result.string(row: 0, column: 0), let definition = result.string(row: 0, column: 1) else { return "" }
            return "ALTER TABLE \(table.quotedName) ADD CONSTRAINT \(SQLIdentifier.quote(name)) \(definition);\n"
        } catch {
            throw ReplayError(master: error)
        }
    }

    /// pg_dump's pre-data script for exactly `tables`.
    private func dump(_ tables: [MirroredTable]) throws(ReplayError) -> String {
        var arguments = ["--schema-only", "--section=pre-data", "--no-owner", "--no-privileges",
                         "--no-security-labels", "--no-tablespaces", "--strict-names"]
        for table in tables {
            // Patterns in double quotes match literally: "schema"."name".
            arguments.append("--table=" + SQLIdentifier.quote(schema: table.schema, name: table.name))
        }
        if let masterConninfo, !masterConninfo.isEmpty {
            arguments.append("--dbname=" + masterConninfo)
        }
        let output: (status: Int32, stdout: Data, stderr: Data)
        do {
            output = try Self.run(pgDump, arguments)
        } catch {
            throw ReplayError(.usage, "cannot run \(pgDump) to read the tables' definitions: \(error)")
        }
        guard output.status == 0 else {
            let message = String(decoding: output.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ReplayError(.master, "pg_dump failed (exit status \(output.status)) reading \(tables.map(\.captureName).joined(separator: ", ")): \(message)")
        }
        return Self.sqlOnly(String(decoding: output.stdout, as: UTF8.self))
    }

    /// The dump without psql's `\restrict` and `\unrestrict` lines: the server
    /// runs the script as SQL and never interprets psql commands, which is
    /// what those lines guard against.
    static func sqlOnly(_ script: String) -> String {
        script.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("\\restrict ") && !$0.hasPrefix("\\unrestrict ") }
            .joined(separator: "\n")
    }

    /// Runs `executable` with its output in temporary files (no pipe to fill up).
    private static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: Data, stderr: Data) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dbmirror-pg_dump-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("stdout"), err = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, try Data(contentsOf: out), try Data(contentsOf: err))
    }

    static func findPgDump() -> String {
        let environment = ProcessInfo.processInfo.environment
        if let given = environment["DBMIRROR_PG_DUMP"], !given.isEmpty { return given }
        let path = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for directory in path + ["/usr/lib/postgresql/15/bin"] {
            let candidate = directory + "/pg_dump"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return "/usr/bin/pg_dump"
    }
}
