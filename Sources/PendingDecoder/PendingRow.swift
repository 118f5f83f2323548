/// A decoded row: its columns in the order they were written.
///
/// All names and values live unescaped, back to back, in one record together
/// with a compact index (two 32-bit offsets per column); not a `String` per
/// value. `PendingColumn`s, `String`s and arrays are built only when asked for.
/// Rows decoded by one ``PendingRowDecoder`` share blocks of memory; a row
/// keeps its block alive. Copies share the record, which is never mutated.
public struct PendingRow: @unchecked Sendable {
    @usableFromInline let block: RowBlock
    @usableFromInline let record: RowRecord

    init(block: RowBlock, record: RowRecord) {
        self.block = block
        self.record = record
    }

    /// The empty row.
    static var empty: PendingRow { PendingRow(block: .empty, record: RowRecord(RowBlock.empty.bytes)) }

    /// Builds a row from columns as given. The names and values are not checked: a
    /// row built this way may hold what decoding rejects (empty or repeated names,
    /// NUL bytes). Their UTF-8 must total less than 2 GiB, as for a decoded row.
    public init(_ columns: [PendingColumn]) {
        var textCount = 0
        for column in columns {
            textCount += column.name.utf8.count + (column.value?.utf8.count ?? 0)
        }
        precondition(
            textCount <= maximumEncodedRowSize,
            "PendingRow: columns hold \(textCount) bytes of text, more than a row can (2 GiB)")
        guard !columns.isEmpty else {
            self = .empty
            return
        }
        block = .make(byteCount: RowRecord.size(count: columns.count, textCount: textCount))
        record = RowRecord(block.bytes)
        record.writeHeader(count: columns.count, textCount: textCount)
        let text = record.text
        let bounds = record.bounds
        var written = 0
        for (index, column) in columns.enumerated() {
            written = copyUTF8(column.name, into: text, at: written)
            bounds.storeBytes(of: UInt32(written), toByteOffset: 8 * index, as: UInt32.self)
            var end = UInt32(written) | RowRecord.nullFlag
            if let value = column.value {
                written = copyUTF8(value, into: text, at: written)
                end = UInt32(written)
            }
            bounds.storeBytes(of: end, toByteOffset: 8 * index + 4, as: UInt32.self)
        }
    }

    /// The number of columns. Inlinable: a call into the module would cost
    /// more than the load (it is read once per row decoded, at least).
    @inlinable public var count: Int { record.count }

    /// The name of the column at `index` (0-based; must be less than `count`).
    public func name(at index: Int) -> String {
        withUnsafeNameBytes(at: index) { makeString($0) }
    }

    /// The value of the column at `index`, or nil for SQL `NULL`.
    public func value(at index: Int) -> String? {
        withUnsafeValueBytes(at: index) { bytes in bytes.map(makeString) }
    }

    /// Whether the value of the column at `index` is SQL `NULL` (not the empty string).
    @inlinable
    public func isNull(at index: Int) -> Bool {
        checkIndex(index)
        return withExtendedLifetime(block) {
            record.bound(2 * index + 1, in: record.bounds) & RowRecord.nullFlag != 0
        }
    }

    /// Calls `body` with the unescaped value bytes of the column at `index`, without
    /// copying them, or with nil for `NULL`. The pointer is valid only inside `body`.
    ///
    /// Inlinable, as are the other accessors to a column's bytes: the replayer
    /// reads every value through them, and a call into this module cannot be
    /// specialised for the caller's closure (it cost the replayer about a fifth
    /// of its CPU, retains and releases included).
    @inlinable
    public func withUnsafeValueBytes<R, E: Error>(
        at index: Int, _ body: (UnsafeRawBufferPointer?) throws(E) -> R
    ) throws(E) -> R {
        checkIndex(index)
        return try withExtendedLifetime(block) { () throws(E) -> R in
            let bounds = record.bounds
            let start = Int(record.bound(2 * index, in: bounds))
            let end = record.bound(2 * index + 1, in: bounds)
            guard end & RowRecord.nullFlag == 0 else {
                return try body(nil)
            }
            return try body(UnsafeRawBufferPointer(start: record.text + start, count: Int(end) - start))
        }
    }

    /// Calls `body` with every column's unescaped value bytes in order (nil
    /// for `NULL`), in one access to the storage: cheaper than
    /// `withUnsafeValueBytes(at:)` column by column. The pointers are valid
    /// only inside `body`.
    @inlinable
    public func forEachValueBytes<E: Error>(_ body: (UnsafeRawBufferPointer?) throws(E) -> Void) throws(E) {
        try withExtendedLifetime(block) { () throws(E) in
            let bounds = record.bounds
            let text = record.text
            for index in 0..<record.count {
                let start = Int(record.bound(2 * index, in: bounds))
                let end = record.bound(2 * index + 1, in: bounds)
                if end & RowRecord.nullFlag != 0 {
                    try body(nil)
                } else {
                    try body(UnsafeRawBufferPointer(start: text + start, count: Int(end) - start))
                }
            }
        }
    }

    /// Calls `body` with the unescaped name bytes of the column at `index`, without
    /// copying them. The pointer is valid only inside `body`.
    @inlinable
    public func withUnsafeNameBytes<R, E: Error>(
        at index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        checkIndex(index)
        return try withExtendedLifetime(block) { () throws(E) -> R in
            let bounds = record.bounds
            let start = index == 0 ? 0 : Int(record.bound(2 * index - 1, in: bounds) & ~RowRecord.nullFlag)
            let end = Int(record.bound(2 * index, in: bounds))
            return try body(UnsafeRawBufferPointer(start: record.text + start, count: end - start))
        }
    }

    /// True when `other` names the same columns in the same order (whatever
    /// their values): the rows fit one statement. One pass over both rows'
    /// records, no copies.
    public func hasSameColumnNames(as other: PendingRow) -> Bool {
        if record == other.record { return true }
        let count = record.count
        guard count == other.record.count else { return false }
        return withExtendedLifetime((block, other.block)) {
            let bounds = record.bounds
            let otherBounds = other.record.bounds
            var start = 0
            var otherStart = 0
            for index in 0..<count {
                let end = Int(record.bound(2 * index, in: bounds))
                let otherEnd = Int(other.record.bound(2 * index, in: otherBounds))
                guard end - start == otherEnd - otherStart,
                      memoryEqual(record.text + start, other.record.text + otherStart, end - start)
                else { return false }
                start = Int(record.bound(2 * index + 1, in: bounds) & ~RowRecord.nullFlag)
                otherStart = Int(other.record.bound(2 * index + 1, in: otherBounds) & ~RowRecord.nullFlag)
            }
            return true
        }
    }

    /// The position of the column called `name`, or nil if the row has none.
    public func index(ofColumnNamed name: String) -> Int? {
        var name = name
        return name.withUTF8 { wanted in
            withExtendedLifetime(block) {
                let bounds = record.bounds
                var start = 0
                for index in 0..<record.count {
                    let end = Int(record.bound(2 * index, in: bounds))
                    if end - start == wanted.count,
                        UnsafeRawBufferPointer(start: record.text + start, count: end - start).elementsEqual(wanted)
                    {
                        return index
                    }
                    start = Int(record.bound(2 * index + 1, in: bounds) & ~RowRecord.nullFlag)
                }
                return nil
            }
        }
    }

    /// All columns, as values (allocates a `String` per name and value).
    public var columns: [PendingColumn] { Array(self) }

    @usableFromInline
    func checkIndex(_ index: Int) {
        precondition(index >= 0 && index < record.count, "PendingRow: column index \(index) out of range 0..<\(record.count)")
    }
}

extension PendingRow: RandomAccessCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { record.count }

    /// The column at `position`, built on access.
    public subscript(position: Int) -> PendingColumn {
        PendingColumn(name: name(at: position), value: value(at: position))
    }
}

extension PendingRow: Hashable {
    public static func == (lhs: PendingRow, rhs: PendingRow) -> Bool {
        if lhs.record == rhs.record {
            return true
        }
        let count = lhs.record.count
        let textCount = lhs.record.textCount
        guard count == rhs.record.count, textCount == rhs.record.textCount else {
            return false
        }
        // Equal columns give equal text and bounds (the layout is a function of the columns).
        return withExtendedLifetime((lhs.block, rhs.block)) {
            memoryEqual(lhs.record.text, rhs.record.text, textCount)
                && memoryEqual(lhs.record.bounds, rhs.record.bounds, 8 * count)
        }
    }

    public func hash(into hasher: inout Hasher) {
        let count = record.count
        hasher.combine(count)
        withExtendedLifetime(block) {
            hasher.combine(bytes: UnsafeRawBufferPointer(start: record.text, count: record.textCount))
            hasher.combine(bytes: UnsafeRawBufferPointer(start: record.bounds, count: 8 * count))
        }
    }
}

extension PendingRow: CustomDebugStringConvertible {
    /// The columns, data included: for tests and debugging, not for logs.
    public var debugDescription: String {
        "PendingRow(" + map { column in "\(column.name.debugDescription): \(column.value?.debugDescription ?? "NULL")" }
            .joined(separator: ", ") + ")"
    }
}

/// A `String` from UTF-8 bytes (repairing invalid ones, which decoding never lets through).
func makeString(_ bytes: UnsafeRawBufferPointer) -> String {
    String(unsafeUninitializedCapacity: bytes.count) { target in
        guard let destination = target.baseAddress, let source = bytes.baseAddress else {
            return 0
        }
        UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: bytes.count)
        return bytes.count
    }
}

/// Copies the UTF-8 of `string` into `text` at `offset`; returns the offset after it.
private func copyUTF8(_ string: String, into text: UnsafeMutableRawPointer, at offset: Int) -> Int {
    var string = string
    return string.withUTF8 { utf8 in
        guard let source = utf8.baseAddress else {
            return offset
        }
        (text + offset).copyMemory(from: source, byteCount: utf8.count)
        return offset + utf8.count
    }
}
