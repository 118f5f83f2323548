import Foundation

/// `dbmirror compare`'s output: a line per host and table, the differing
/// keys under it; or a JSON array of hosts.
public enum ComparisonFormatter {
    /// `slave1  public.items  equal (500 rows)`, or `different: …` and one
    /// indented line per differing key of the sample.
    public static func text(_ hosts: [HostComparison]) -> String {
        var lines: [String] = []
        for host in hosts {
            if let error = host.error {
                lines.append("\(host.host): error: \(error)")
                continue
            }
            if host.tables.isEmpty {
                lines.append("\(host.host): no mirrored tables to compare")
            }
            for table in host.tables {
                let prefix = "\(host.host)  \(table.table)  "
                switch table.outcome {
                case .equal:
                    lines.append(prefix + "equal (\(table.masterRows) rows)")
                case .missingOnSlave:
                    lines.append(prefix + "different: the slave has no such table")
                case .different:
                    var kinds: [String] = []
                    if table.changed.count > 0 { kinds.append("\(table.changed.count) changed") }
                    if table.missingOnSlave.count > 0 { kinds.append("\(table.missingOnSlave.count) missing on slave") }
                    if table.extraOnSlave.count > 0 { kinds.append("\(table.extraOnSlave.count) extra on slave") }
                    if kinds.isEmpty { kinds.append("checksums differ but no key does (duplicate keys on a side?)") }
                    lines.append(prefix + "different: master \(table.masterRows) rows, slave \(table.slaveRows ?? 0) rows; "
                                 + kinds.joined(separator: ", "))
                    for (label, keys) in [("changed", table.changed), ("missing on slave", table.missingOnSlave),
                                          ("extra on slave", table.extraOnSlave)] {
                        for key in keys.sample { lines.append("    \(label): \(key)") }
                        if keys.count > keys.sample.count {
                            lines.append("    … and \(keys.count - keys.sample.count) more \(label)")
                        }
                    }
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The hosts as a JSON array, keys sorted.
    public static func json(_ hosts: [HostComparison]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(hosts), as: UTF8.self)
    }
}
