/// A decoded row: its columns in the order they were written.
///
/// All names and values live unescaped, back to back, in one buffer together
/// with a compact index (two 32-bit offsets per column); a row is one allocation,
/// not a `String` per value. `PendingColumn`s, `String`s and arrays are built only
/// when asked for. Copies share the buffer, which is never mutated.
public struct PendingRow: @unchecked Sendable {
    let storage: PendingRowStorage

    init(storage: PendingRowStorage) {
        self.storage = storage
    }

    /// Builds a row from columns as given. The names and values are not checked: a
    /// row built this way may hold what decoding rejects (empty or repeated names,
    /// NUL bytes). Their UTF-8 must total less than 2 GiB, as for a decoded row.
    public init(_ columns: [PendingColumn]) {
        var textCount = 0
        for column in columns {
            textCount += column.name.utf8.count + (column.value?.utf8.count ?? 0)
        }
        precondition(
            textCount <= RowScanner.maximumRowSize,
            "PendingRow: columns hold \(textCount) bytes of text, more than a row can (2 GiB)")
        guard !columns.isEmpty else {
            storage = .empty
            return
        }
        storage = .make(count: columns.count, textCount: textCount)
        storage.withParts { bounds, text in
            var written = 0
            for (index, column) in columns.enumerated() {
                written = copyUTF8(column.name, into: text, at: written)
                bounds[2 * index] = UInt32(written)
                if let value = column.value {
                    written = copyUTF8(value, into: text, at: written)
                    bounds[2 * index + 1] = UInt32(written)
                } else {
                    bounds[2 * index + 1] = UInt32(written) | PendingRowStorage.nullFlag
                }
            }
        }
    }

    /// The number of columns.
    public var count: Int { storage.count }

    /// The name of the column at `index` (0-based; must be less than `count`).
    public func name(at index: Int) -> String {
        withUnsafeNameBytes(at: index) { makeString($0) }
    }

    /// The value of the column at `index`, or nil for SQL `NULL`.
    public func value(at index: Int) -> String? {
        withUnsafeValueBytes(at: index) { bytes in bytes.map(makeString) }
    }

    /// Whether the value of the column at `index` is SQL `NULL` (not the empty string).
    public func isNull(at index: Int) -> Bool {
        checkIndex(index)
        return storage.withParts { bounds, _ in bounds[2 * index + 1] & PendingRowStorage.nullFlag != 0 }
    }

    /// Calls `body` with the unescaped value bytes of the column at `index`, without
    /// copying them, or with nil for `NULL`. The pointer is valid only inside `body`.
    public func withUnsafeValueBytes<R, E: Error>(
        at index: Int, _ body: (UnsafeRawBufferPointer?) throws(E) -> R
    ) throws(E) -> R {
        checkIndex(index)
        return try storage.withParts { (bounds, text) throws(E) -> R in
            let start = Int(bounds[2 * index])
            let end = bounds[2 * index + 1]
            guard end & PendingRowStorage.nullFlag == 0 else {
                return try body(nil)
            }
            return try body(UnsafeRawBufferPointer(rebasing: text[start..<Int(end)]))
        }
    }

    /// Calls `body` with every column's unescaped value bytes in order (nil
    /// for `NULL`), in one access to the storage: cheaper than
    /// `withUnsafeValueBytes(at:)` column by column. The pointers are valid
    /// only inside `body`.
    public func forEachValueBytes<E: Error>(_ body: (UnsafeRawBufferPointer?) throws(E) -> Void) throws(E) {
        try storage.withParts { (bounds, text) throws(E) in
            for index in 0..<storage.count {
                let start = Int(bounds[2 * index])
                let end = bounds[2 * index + 1]
                if end & PendingRowStorage.nullFlag != 0 {
                    try body(nil)
                } else {
                    try body(UnsafeRawBufferPointer(rebasing: text[start..<Int(end)]))
                }
            }
        }
    }

    /// Calls `body` with the unescaped name bytes of the column at `index`, without
    /// copying them. The pointer is valid only inside `body`.
    public func withUnsafeNameBytes<R, E: Error>(
        at index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        checkIndex(index)
        return try storage.withParts { (bounds, text) throws(E) -> R in
            let start = index == 0 ? 0 : Int(bounds[2 * index - 1] & ~PendingRowStorage.nullFlag)
            let end = Int(bounds[2 * index])
            return try body(UnsafeRawBufferPointer(rebasing: text[start..<end]))
        }
    }

    /// True when `other` names the same columns in the same order (whatever
    /// their values): the rows fit one statement. One pass over both rows'
    /// storage, no copies.
    public func hasSameColumnNames(as other: PendingRow) -> Bool {
        if storage === other.storage { return true }
        let count = storage.count
        guard count == other.storage.count else { return false }
        return storage.withParts { bounds, text in
            other.storage.withParts { otherBounds, otherText in
                var start = 0
                var otherStart = 0
                for index in 0..<count {
                    let end = Int(bounds[2 * index])
                    let otherEnd = Int(otherBounds[2 * index])
                    guard end - start == otherEnd - otherStart,
                          UnsafeRawBufferPointer(rebasing: text[start..<end])
                            .elementsEqual(UnsafeRawBufferPointer(rebasing: otherText[otherStart..<otherEnd]))
                    else { return false }
                    start = Int(bounds[2 * index + 1] & ~PendingRowStorage.nullFlag)
                    otherStart = Int(otherBounds[2 * index + 1] & ~PendingRowStorage.nullFlag)
                }
                return true
            }
        }
    }

    /// The position of the column called `name`, or nil if the row has none.
    public func index(ofColumnNamed name: String) -> Int? {
        var name = name
        return name.withUTF8 { wanted in
            storage.withParts { bounds, text in
                var start = 0
                for index in 0..<storage.count {
                    let end = Int(bounds[2 * index])
                    if end - start == wanted.count,
                        UnsafeRawBufferPointer(rebasing: text[start..<end]).elementsEqual(wanted)
                    {
                        return index
                    }
                    start = Int(bounds[2 * index + 1] & ~PendingRowStorage.nullFlag)
                }
                return nil
            }
        }
    }

    /// All columns, as values (allocates a `String` per name and value).
    public var columns: [PendingColumn] { Array(self) }

    private func checkIndex(_ index: Int) {
        precondition(index >= 0 && index < storage.count, "PendingRow: column index \(index) out of range 0..<\(storage.count)")
    }
}

extension PendingRow: RandomAccessCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.count }

    /// The column at `position`, built on access.
    public subscript(position: Int) -> PendingColumn {
        PendingColumn(name: name(at: position), value: value(at: position))
    }
}

extension PendingRow: Hashable {
    public static func == (lhs: PendingRow, rhs: PendingRow) -> Bool {
        if lhs.storage === rhs.storage {
            return true
        }
        guard lhs.storage.count == rhs.storage.count, lhs.storage.textCount == rhs.storage.textCount else {
            return false
        }
        return lhs.storage.withCanonicalBytes { left in
            rhs.storage.withCanonicalBytes { right in left.elementsEqual(right) }
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.count)
        storage.withCanonicalBytes { hasher.combine(bytes: $0) }
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
private func copyUTF8(_ string: String, into text: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
    var string = string
    return string.withUTF8 { utf8 in
        guard let source = utf8.baseAddress, let destination = text.baseAddress else {
            return offset
        }
        (destination + offset).copyMemory(from: source, byteCount: utf8.count)
        return offset + utf8.count
    }
}
