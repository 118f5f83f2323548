/// Writing rows in the queue's encoding (docs/FORMAT.md): the inverse of decoding,
/// for tests, tools and the benchmark. The C trigger is the production writer.
public enum PendingEncoder {
    /// The encoding of `columns` as a string.
    public static func encode(_ columns: [PendingColumn]) -> String {
        String(decoding: encodeBytes(columns), as: UTF8.self)
    }

    /// The encoding of `columns` as UTF-8 bytes.
    public static func encodeBytes(_ columns: [PendingColumn]) -> [UInt8] {
        var bytes: [UInt8] = []
        var estimate = 0
        for column in columns {
            estimate += column.name.utf8.count + (column.value?.utf8.count ?? 0) + 8
        }
        bytes.reserveCapacity(estimate)
        for column in columns {
            appendPair(name: column.name.utf8, value: column.value?.utf8, to: &bytes)
        }
        return bytes
    }

    /// The encoding of a decoded row as UTF-8 bytes.
    public static func encodeBytes(_ row: PendingRow) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(row.record.textCount + 8 * row.count)
        for index in 0..<row.count {
            row.withUnsafeNameBytes(at: index) { name in
                row.withUnsafeValueBytes(at: index) { value in
                    appendPair(name: name, value: value, to: &bytes)
                }
            }
        }
        return bytes
    }

    private static func appendPair<Name: Collection<UInt8>, Value: Collection<UInt8>>(
        name: Name, value: Value?, to bytes: inout [UInt8]
    ) {
        bytes.append(Byte.doubleQuote)
        for byte in name {
            bytes.append(byte)
            if byte == Byte.doubleQuote {
                bytes.append(byte)
            }
        }
        bytes.append(Byte.doubleQuote)
        bytes.append(Byte.equals)
        if let value {
            bytes.append(Byte.singleQuote)
            for byte in value {
                bytes.append(byte)
                if byte == Byte.singleQuote || byte == Byte.backslash {
                    bytes.append(byte)
                }
            }
            bytes.append(Byte.singleQuote)
        }
        bytes.append(Byte.space)
    }
}
