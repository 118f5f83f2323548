import PendingDecoder

/// What a captured change did.
public enum ChangeOperation: Character, Sendable, CustomStringConvertible {
    case insert = "i"
    case update = "u"
    case delete = "d"
    case truncate = "t"

    public var description: String {
        switch self {
        case .insert: "insert"
        case .update: "update"
        case .delete: "delete"
        case .truncate: "truncate"
        }
    }
}

/// One captured change, as queued on the master.
public struct Change: Sendable {
    /// Its position in the master's capture order ("Pending"."SeqId").
    public var seqID: Int64
    /// The master's top-level transaction ("Pending"."XID").
    public var xid: UInt64
    /// The table, as the capture wrote it: schema-qualified, quoted as needed.
    public var table: String
    public var operation: ChangeOperation
    /// The old primary key (update, delete).
    public var key: PendingRow?
    /// The new row (insert, update).
    public var data: PendingRow?
    /// The bytes of its encoded rows in the queue, for memory bounds.
    public var encodedSize: Int

    public init(seqID: Int64, xid: UInt64, table: String, operation: ChangeOperation,
                key: PendingRow? = nil, data: PendingRow? = nil, encodedSize: Int = 0) {
        self.seqID = seqID
        self.xid = xid
        self.table = table
        self.operation = operation
        self.key = key
        self.data = data
        self.encodedSize = encodedSize
    }

    /// Where this change is, for error messages: SeqId, XID, operation, table, key.
    public var location: ChangeLocation {
        ChangeLocation(seqID: seqID, xid: xid, table: table, operation: operation.description,
                       key: key.map(Self.describe) ?? data.map(Self.describe))
    }

    /// `name=value, …` of a row, values quoted as SQL literals, for messages.
    static func describe(_ row: PendingRow) -> String {
        (0..<row.count).map { index in
            let value = row.value(at: index).map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" } ?? "NULL"
            return "\(row.name(at: index))=\(value)"
        }.joined(separator: ", ")
    }
}

/// The identity of a change in error messages and logs.
public struct ChangeLocation: Sendable, Hashable, CustomStringConvertible {
    public var seqID: Int64
    public var xid: UInt64
    public var table: String
    public var operation: String
    /// The old key of an update or delete, the new row of an insert.
    public var key: String?

    public var description: String {
        var text = "XID \(xid), SeqId \(seqID), \(operation) on \(table)"
        if let key { text += " (\(key))" }
        return text
    }
}
