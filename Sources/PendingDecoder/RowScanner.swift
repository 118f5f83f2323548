// The grammar of docs/FORMAT.md, checked one pair at a time.

/// Walks an encoded row pair by pair, validating as it goes.
///
/// Each call to `next()` checks one whole pair (quoting, NUL, UTF-8, empty and
/// repeated names) before returning it, so a pair is only ever seen complete.
struct RowScanner {
    /// The largest input accepted: offsets inside a decoded row are 31-bit.
    static let maximumRowSize = Int(Int32.max)

    private let base: UnsafeRawPointer
    private let end: Int
    private var position = 0
    private var columnIndex = 0
    private var names: DuplicateNameCheck

    /// The scanner reads `base[0..<end]`; `entries` and `slots` are the scratch
    /// memory of the duplicate check (see `DuplicateNameCheck.init`).
    init(
        base: UnsafeRawPointer, end: Int,
        entries: UnsafeMutableBufferPointer<NameEntry>, slots: UnsafeMutableBufferPointer<Int16>
    ) {
        self.base = base
        self.end = end
        self.names = DuplicateNameCheck(base: base, entries: entries, slots: slots)
    }

    /// The number of pairs returned so far.
    var count: Int { columnIndex }

    @inline(never)
    private func error(_ kind: PendingDecodingError.Kind, _ offset: Int) -> PendingDecodingError {
        PendingDecodingError(kind, offset: offset, columnIndex: columnIndex)
    }

    /// The next pair, or nil at the end of the row. Inlined into its two loops (the
    /// walk and PendingRow decoding) so the field never makes a trip through memory.
    @inline(__always)
    mutating func next() throws(PendingDecodingError) -> PendingField? {
        let pairStart = position
        guard pairStart < end else {
            return nil
        }
        guard loadByte(base, pairStart) == Byte.doubleQuote else {
            throw error(.expectedNameQuote, pairStart)
        }

        // The name: up to the first `"` that is not doubled.
        let nameStart = pairStart + 1
        var offset = nameStart
        var nameEscapes = 0
        while true {
            offset = firstDelimiterOrSuspect(base, from: offset, to: end, Byte.doubleQuote, Byte.doubleQuote)
            guard offset < end else {
                throw error(.unterminatedName, pairStart)
            }
            let byte = loadByte(base, offset)
            if byte == Byte.doubleQuote {
                if offset + 1 < end, loadByte(base, offset + 1) == Byte.doubleQuote {
                    nameEscapes += 1
                    offset += 2
                    continue
                }
                break
            }
            offset = try skipSuspect(at: offset)
        }
        let nameEnd = offset
        guard nameEnd > nameStart else {
            throw error(.emptyColumnName, pairStart)
        }
        offset += 1
        guard offset < end, loadByte(base, offset) == Byte.equals else {
            throw error(.missingEquals, offset)
        }
        offset += 1
        guard offset < end else {
            throw error(.expectedValue, offset)
        }

        // The value: nothing (NULL) or a quoted value.
        var rawValue: UnsafeRawBufferPointer?
        var valueCount = 0
        switch loadByte(base, offset) {
        case Byte.space:
            position = offset + 1
        case Byte.singleQuote:
            let valueStart = offset + 1
            offset = valueStart
            var valueEscapes = 0
            while true {
                offset = firstDelimiterOrSuspect(base, from: offset, to: end, Byte.singleQuote, Byte.backslash)
                guard offset < end else {
                    throw error(.unterminatedValue, valueStart - 1)
                }
                let byte = loadByte(base, offset)
                if byte == Byte.singleQuote || byte == Byte.backslash {
                    if offset + 1 < end, loadByte(base, offset + 1) == byte {
                        valueEscapes += 1
                        offset += 2
                        continue
                    }
                    if byte == Byte.backslash {
                        throw error(.loneBackslash, offset)
                    }
                    break
                }
                offset = try skipSuspect(at: offset)
            }
            let valueEnd = offset
            offset += 1
            guard offset < end else {
                throw error(.missingSpaceAfterValue, offset)
            }
            let after = loadByte(base, offset)
            guard after == Byte.space else {
                if after == Byte.doubleQuote {
                    throw error(.missingSpaceAfterValue, offset)
                }
                throw error(.loneQuote, valueEnd)
            }
            rawValue = UnsafeRawBufferPointer(start: base + valueStart, count: valueEnd - valueStart)
            valueCount = valueEnd - valueStart - valueEscapes
            position = offset + 1
        default:
            throw error(.expectedValue, offset)
        }

        guard names.insert(start: nameStart, length: nameEnd - nameStart) else {
            throw error(.duplicateColumn, pairStart)
        }
        let field = PendingField(
            index: columnIndex,
            rawName: UnsafeRawBufferPointer(start: base + nameStart, count: nameEnd - nameStart),
            rawValue: rawValue,
            nameCount: nameEnd - nameStart - nameEscapes,
            valueCount: valueCount,
            nameEndOffset: nameEnd,
            pairEndOffset: position)
        columnIndex += 1
        return field
    }

    /// Checks the NUL or non-ASCII byte at `offset` and returns the offset after it.
    @inline(never)
    private func skipSuspect(at offset: Int) throws(PendingDecodingError) -> Int {
        if loadByte(base, offset) == Byte.nul {
            throw error(.nulByte, offset)
        }
        guard let next = endOfUTF8Sequence(base, at: offset, end: end) else {
            throw error(.invalidUTF8, offset)
        }
        return next
    }
}

/// Runs `body` with a scanner over `count` bytes at `base`, its duplicate-check
/// memory on the stack (under 1 KiB each, so no stack-space check is needed).
@inline(__always)
func withRowScanner<R>(over base: UnsafeRawPointer, count: Int, _ body: (inout RowScanner) -> R) -> R {
    withUnsafeTemporaryAllocation(of: NameEntry.self, capacity: DuplicateNameCheck.stackCapacity) { entries in
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: DuplicateNameCheck.stackSlots) { slots in
            var scanner = RowScanner(base: base, end: count, entries: entries, slots: slots)
            return body(&scanner)
        }
    }
}
