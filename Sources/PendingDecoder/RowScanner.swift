// The grammar of docs/FORMAT.md, checked one pair at a time.
//
// Searches for a field's end go 16 bytes at a time. The last 16 bytes of
// the row are also held in a small window followed by 16 NUL bytes, so a
// search near the end of the row still reads 16 bytes at once without
// reading past the input: it stops at the window's first NUL, which is where
// the row ends (callers treat reaching the end as "not found").

/// The largest input accepted: offsets inside a decoded row are 31-bit.
let maximumEncodedRowSize = Int(Int32.max)

/// Walks an encoded row pair by pair, validating as it goes, and hands the
/// unescaped text to its `destination` on the way.
///
/// Each call to `next()` checks one whole pair (quoting, NUL, UTF-8, empty and
/// repeated names) before returning it, so a pair is only ever seen complete.
struct RowScanner<Destination: TextDestination> {
    private let base: UnsafeRawPointer
    private let end: Int
    /// The row's last `end - windowStart` bytes, then NULs (32 bytes in all).
    private let window: UnsafeRawPointer
    private let windowStart: Int
    private var position = 0
    private var columnIndex = 0
    private var names: DuplicateNameCheck
    var destination: Destination

    /// The scanner reads `base[0..<end]` and uses `scratch` (one row at a time).
    init(base: UnsafeRawPointer, end: Int, scratch: ScannerScratch, destination: Destination) {
        self.base = base
        self.end = end
        let window = scratch.window
        let zeros = SIMD16<UInt8>()
        window.storeBytes(of: zeros, toByteOffset: 16, as: SIMD16<UInt8>.self)
        if end >= 16 {
            windowStart = end - 16
            window.storeBytes(
                of: base.loadUnaligned(fromByteOffset: windowStart, as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
        } else {
            windowStart = 0
            window.storeBytes(of: zeros, as: SIMD16<UInt8>.self)
            copyBytes(window, base, end)
        }
        self.window = UnsafeRawPointer(window)
        self.names = DuplicateNameCheck(base: base, entries: scratch.entries, slots: scratch.slots)
        self.destination = destination
    }

    /// Frees what the scan allocated (the duplicate check of a very wide row).
    func release() {
        names.release()
    }

    /// The number of pairs returned so far.
    var count: Int { columnIndex }

    @inline(never)
    private func error(_ kind: PendingDecodingError.Kind, _ offset: Int) -> PendingDecodingError {
        PendingDecodingError(kind, offset: offset, columnIndex: columnIndex)
    }

    /// The next pair, or nil at the end of the row. Inlined into its two loops (the
    /// walk and row decoding) so the field never makes a trip through memory.
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
        let nameStart = pairStart &+ 1
        var offset = nameStart
        var nameEscapes = 0
        while true {
            offset = search(from: offset, Byte.doubleQuote, Byte.doubleQuote)
            guard offset < end else {
                throw error(.unterminatedName, pairStart)
            }
            let byte = loadByte(base, offset)
            if byte == Byte.doubleQuote {
                if offset &+ 1 < end, loadByte(base, offset &+ 1) == Byte.doubleQuote {
                    destination.append(byte)
                    nameEscapes &+= 1
                    offset &+= 2
                    continue
                }
                break
            }
            offset = try copySuspect(at: offset)
        }
        let nameEnd = offset
        guard nameEnd > nameStart else {
            throw error(.emptyColumnName, pairStart)
        }
        destination.endName(column: columnIndex)
        offset &+= 1
        guard offset < end, loadByte(base, offset) == Byte.equals else {
            throw error(.missingEquals, offset)
        }
        offset &+= 1
        guard offset < end else {
            throw error(.expectedValue, offset)
        }

        // The value: nothing (NULL) or a quoted value.
        var rawValue: UnsafeRawBufferPointer?
        var valueCount = 0
        switch loadByte(base, offset) {
        case Byte.space:
            destination.endValue(column: columnIndex, isNull: true)
            position = offset &+ 1
        case Byte.singleQuote:
            let valueStart = offset &+ 1
            offset = valueStart
            var valueEscapes = 0
            while true {
                offset = search(from: offset, Byte.singleQuote, Byte.backslash)
                guard offset < end else {
                    throw error(.unterminatedValue, valueStart &- 1)
                }
                let byte = loadByte(base, offset)
                if byte == Byte.singleQuote || byte == Byte.backslash {
                    if offset &+ 1 < end, loadByte(base, offset &+ 1) == byte {
                        destination.append(byte)
                        valueEscapes &+= 1
                        offset &+= 2
                        continue
                    }
                    if byte == Byte.backslash {
                        throw error(.loneBackslash, offset)
                    }
                    break
                }
                offset = try copySuspect(at: offset)
            }
            let valueEnd = offset
            offset &+= 1
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
            destination.endValue(column: columnIndex, isNull: false)
            rawValue = UnsafeRawBufferPointer(start: base + valueStart, count: valueEnd &- valueStart)
            valueCount = valueEnd &- valueStart &- valueEscapes
            position = offset &+ 1
        default:
            throw error(.expectedValue, offset)
        }

        guard names.insert(start: nameStart, length: nameEnd &- nameStart) else {
            throw error(.duplicateColumn, pairStart)
        }
        let field = PendingField(
            index: columnIndex,
            rawName: UnsafeRawBufferPointer(start: base + nameStart, count: nameEnd &- nameStart),
            rawValue: rawValue,
            nameCount: nameEnd &- nameStart &- nameEscapes,
            valueCount: valueCount)
        columnIndex &+= 1
        return field
    }

    /// The offset of the first byte from `start` on that is `first`, `second`,
    /// NUL or not ASCII, or `end`; the bytes before it go to the destination.
    @inline(__always)
    private mutating func search(from start: Int, _ first: UInt8, _ second: UInt8) -> Int {
        var offset = start
        while offset &+ 16 <= end {
            let vector = base.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
            destination.stage(vector)
            let hits = delimiterOrSuspectHits(vector, first, second)
            if hits[0] | hits[1] != 0 {
                let lane = firstHitLane(hits)
                destination.advance(by: lane)
                return offset &+ lane
            }
            destination.advance(by: 16)
            offset &+= 16
        }
        // Within the last 16 bytes: the window's NULs stop the search at `end`.
        let vector = window.loadUnaligned(fromByteOffset: offset &- windowStart, as: SIMD16<UInt8>.self)
        destination.stage(vector)
        let lane = firstHitLane(delimiterOrSuspectHits(vector, first, second))
        destination.advance(by: lane)
        return offset &+ lane
    }

    /// Checks the NUL or non-ASCII byte at `offset`, hands its UTF-8 sequence to
    /// the destination and returns the offset after it.
    @inline(__always)
    private mutating func copySuspect(at offset: Int) throws(PendingDecodingError) -> Int {
        let next = try endOfSuspect(at: offset)
        destination.append(base + offset, count: next &- offset)
        return next
    }

    @inline(never)
    private func endOfSuspect(at offset: Int) throws(PendingDecodingError) -> Int {
        if loadByte(base, offset) == Byte.nul {
            throw error(.nulByte, offset)
        }
        guard let next = endOfUTF8Sequence(base, at: offset, end: end) else {
            throw error(.invalidUTF8, offset)
        }
        return next
    }
}

/// The scratch memory of a scanner: the end-of-row window and the duplicate
/// check's names and table (see `DuplicateNameCheck.init`).
struct ScannerScratch {
    static let windowSize = 32

    let window: UnsafeMutableRawPointer
    let entries: UnsafeMutableBufferPointer<NameEntry>
    let slots: UnsafeMutableBufferPointer<Int16>

    /// Scratch on the heap, for a decoder that scans many rows; free it with `deallocate()`.
    static func allocate() -> ScannerScratch {
        ScannerScratch(
            window: .allocate(byteCount: windowSize, alignment: 16),
            entries: .allocate(capacity: DuplicateNameCheck.stackCapacity),
            slots: .allocate(capacity: DuplicateNameCheck.stackSlots))
    }

    func deallocate() {
        window.deallocate()
        entries.deallocate()
        slots.deallocate()
    }
}

/// Runs `body` with scanner scratch on the stack (under 1 KiB each part, so
/// no stack-space check is needed).
@inline(__always)
func withScannerScratch<R>(_ body: (ScannerScratch) -> R) -> R {
    withUnsafeTemporaryAllocation(of: NameEntry.self, capacity: DuplicateNameCheck.stackCapacity) { entries in
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: DuplicateNameCheck.stackSlots) { slots in
            withUnsafeTemporaryAllocation(byteCount: ScannerScratch.windowSize, alignment: 16) { window in
                body(ScannerScratch(window: window.baseAddress.unsafelyUnwrapped, entries: entries, slots: slots))
            }
        }
    }
}

/// Runs `body` with a scanner over `count` bytes at `base` that writes to
/// `destination`, its scratch memory on the stack.
@inline(__always)
func withRowScanner<Destination: TextDestination, R>(
    over base: UnsafeRawPointer, count: Int, destination: Destination,
    _ body: (inout RowScanner<Destination>) -> R
) -> R {
    withScannerScratch { scratch in
        var scanner = RowScanner(base: base, end: count, scratch: scratch, destination: destination)
        defer { scanner.release() }
        return body(&scanner)
    }
}
