import LibPQ

/// A mirrored table's counterpart on a slave.
struct SlaveTarget: Sendable {
    var table: MirroredTable
    /// The slave's `pg_class` oid, as text.
    var oid: String
    /// Schema and name as the slave has them, quoted for SQL.
    var quotedName: String
    var partitioned: Bool

    /// `ONLY t` for a plain table (its inheritance children are tables of their own), `t` for a partitioned one.
    var onlyName: String { partitioned ? quotedName : "ONLY \(quotedName)" }
}

/// Finding and emptying a slave's copies of the mirrored tables.
enum SlaveTargets {
    static let resolveQuery = """
        SELECT c.oid::text, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind = 'p'
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')
        """

    /// The slave's table for `table`, nil when the slave has none.
    static func find(_ table: MirroredTable, on slave: Connection) throws(PostgresError) -> SlaveTarget? {
        let result = try slave.execute(resolveQuery, [table.captureName])
        guard result.rowCount == 1, let oid = result.string(row: 0, column: 0),
              let quotedName = result.string(row: 0, column: 1) else { return nil }
        return SlaveTarget(table: table, oid: oid, quotedName: quotedName,
                           partitioned: result.string(row: 0, column: 2) == "t")
    }

    /// The tables of `tables` the slave lacks.
    static func missing(_ tables: [MirroredTable], on slave: Connection) throws(ReplayError) -> [MirroredTable] {
        var missing: [MirroredTable] = []
        for table in tables {
            do throws(PostgresError) {
                if try find(table, on: slave) == nil { missing.append(table) }
            } catch {
                throw ReplayError(slave: error)
            }
        }
        return missing
    }

    /// The slave's table for each of `tables`.
    ///
    /// - Throws: `.slave` naming every table the slave lacks.
    static func resolve(_ tables: [MirroredTable], on slave: Connection) throws(ReplayError) -> [SlaveTarget] {
        var targets: [SlaveTarget] = []
        var missing: [String] = []
        for table in tables {
            do throws(PostgresError) {
                if let target = try find(table, on: slave) {
                    targets.append(target)
                } else {
                    missing.append(table.captureName)
                }
            } catch {
                throw ReplayError(slave: error)
            }
        }
        guard missing.isEmpty else {
            throw ReplayError(.slave, "the slave has no table \(missing.joined(separator: ", ")); create it with the master's definition (or use --create-tables)")
        }
        return targets
    }

    /// Foreign keys between the slave's tables that touch `targets`: (referencing oid, referenced oid).
    private static func foreignKeys(touching targets: [SlaveTarget], on slave: Connection) throws(PostgresError) -> [(from: String, to: String)] {
        let oids = "{" + targets.map(\.oid).joined(separator: ",") + "}"
        let result = try slave.execute("""
            SELECT conrelid::text, confrelid::text FROM pg_catalog.pg_constraint
            WHERE contype = 'f' AND (conrelid = ANY ($1::oid[]) OR confrelid = ANY ($1::oid[]))
            """, [oids])
        return (0..<result.rowCount).compactMap { row in
            guard let from = result.string(row: row, column: 0), let to = result.string(row: row, column: 1) else { return nil }
            return (from, to)
        }
    }

    /// Empties `targets` inside the slave's open transaction: one TRUNCATE
    /// for every table whose referencing tables are all emptied with it
    /// (TRUNCATE demands that), DELETE for the others.
    static func empty(_ targets: [SlaveTarget], on slave: Connection) throws(ReplayError) {
        guard !targets.isEmpty else { return }
        do throws(PostgresError) {
            let keys = try foreignKeys(touching: targets, on: slave)
            var truncated = Set(targets.map(\.oid))
            // A table referenced from a table that is not truncated cannot be
            // truncated either; repeat until nothing changes.
            var changed = true
            while changed {
                changed = false
                for key in keys where truncated.contains(key.to) && !truncated.contains(key.from) {
                    truncated.remove(key.to)
                    changed = true
                }
            }
            let truncating = targets.filter { truncated.contains($0.oid) }
            if !truncating.isEmpty {
                try slave.execute("TRUNCATE " + truncating.map(\.onlyName).joined(separator: ", "))
            }
            for target in targets where !truncated.contains(target.oid) {
                try slave.execute("DELETE FROM \(target.onlyName)")
            }
        } catch {
            throw ReplayError(.slave, "cannot empty the slave's tables before the copy: \(ReplayError.serverText(error))", postgres: error)
        }
    }

    /// `targets` in groups that foreign keys connect on the slave: a group
    /// is emptied and loaded in one slave transaction (parallel copies).
    static func groups(_ targets: [SlaveTarget], on slave: Connection) throws(ReplayError) -> [[SlaveTarget]] {
        let keys: [(from: String, to: String)]
        do throws(PostgresError) {
            keys = try foreignKeys(touching: targets, on: slave)
        } catch {
            throw ReplayError(slave: error)
        }
        // Union-find over the oids.
        var parent: [String: String] = [:]
        for target in targets { parent[target.oid] = target.oid }
        func find(_ oid: String) -> String {
            var current = oid
            while let next = parent[current], next != current { current = next }
            return current
        }
        for key in keys where parent[key.from] != nil && parent[key.to] != nil {
            let a = find(key.from), b = find(key.to)
            if a != b { parent[a] = b }
        }
        var order: [String] = []
        var members: [String: [SlaveTarget]] = [:]
        for target in targets {
            let r = find(target.oid)
            if members[r] == nil { order.append(r) }
            members[r, default: []].append(target)
        }
        return order.compactMap { members[$0] }
    }
}
