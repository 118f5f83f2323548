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
        self.names = DuplicateNameCheck(base: base, keys: scratch.keys, entries: scratch.entries, slots: scratch.slots)
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
    ///
    /// Each field's end is first checked the quick way, two bytes at once: a
    /// name's `"=` and a value's `' `. Anything else (an escape, a byte that is
    /// not ASCII, an error) goes to `finishName` or `finishValue`, which apply
    /// the whole grammar from there.
    @inline(__always)
    mutating func next() throws(PendingDecodingError) -> PendingField? {
        let pairStart = position
        guard pairStart < end else {
            return nil
        }
        guard loadByte(base, pairStart) == Byte.doubleQuote else {
            throw error(.expectedNameQuote, pairStart)
        }

        // The name: up to the first `"` that is not doubled, then `=` and one more byte.
        let nameStart = pairStart &+ 1
        var nameEnd = search(from: nameStart, Byte.doubleQuote, Byte.doubleQuote)
        var nameEscapes = 0
        if !(nameEnd &+ 2 < end && loadPair(nameEnd) == Self.nameClose) {
            nameEnd = try finishName(at: nameEnd, pairStart: pairStart, escapes: &nameEscapes)
        }
        guard nameEnd > nameStart else {
            throw error(.emptyColumnName, pairStart)
        }
        destination.endName(column: columnIndex)

        // The value: nothing (NULL) or a quoted value.
        var offset = nameEnd &+ 2
        var rawValue: UnsafeRawBufferPointer?
        var valueCount = 0
        switch loadByte(base, offset) {
        case Byte.space:
            destination.endValue(column: columnIndex, isNull: true)
            position = offset &+ 1
        case Byte.singleQuote:
            let valueStart = offset &+ 1
            offset = search(from: valueStart, Byte.singleQuote, Byte.backslash)
            var valueEscapes = 0
            if !(offset &+ 1 < end && loadPair(offset) == Self.valueClose) {
                offset = try finishValue(at: offset, valueStart: valueStart, escapes: &valueEscapes)
            }
            destination.endValue(column: columnIndex, isNull: false)
            rawValue = UnsafeRawBufferPointer(start: base + valueStart, count: offset &- valueStart)
            valueCount = offset &- valueStart &- valueEscapes
            position = offset &+ 2
        default:
            throw error(.expectedValue, offset)
        }

        let nameLength = nameEnd &- nameStart
        guard names.insert(start: nameStart, length: nameLength, key: nameKey(start: nameStart, length: nameLength))
        else {
            throw error(.duplicateColumn, pairStart)
        }
        let field = PendingField(
            index: columnIndex,
            rawName: UnsafeRawBufferPointer(start: base + nameStart, count: nameLength),
            rawValue: rawValue,
            nameCount: nameLength &- nameEscapes,
            valueCount: valueCount)
        columnIndex &+= 1
        return field
    }

    /// `"=` and `' ` as little-endian 16-bit words.
    private static var nameClose: UInt16 { UInt16(Byte.doubleQuote) | UInt16(Byte.equals) << 8 }
    private static var valueClose: UInt16 { UInt16(Byte.singleQuote) | UInt16(Byte.space) << 8 }

    /// The two bytes at `offset` (which must be in the row, as must the next).
    @inline(__always)
    private func loadPair(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// The rest of a name whose search stopped at `offset` on something other
    /// than a closing `"` followed by `=` and another byte. Returns the offset
    /// of the closing quote once the `=` and the byte after it are known to be there.
    private mutating func finishName(
        at stop: Int, pairStart: Int, escapes: inout Int
    ) throws(PendingDecodingError) -> Int {
        var offset = stop
        while true {
            guard offset < end else {
                throw error(.unterminatedName, pairStart)
            }
            let byte = loadByte(base, offset)
            if byte == Byte.doubleQuote {
                if offset &+ 1 < end, loadByte(base, offset &+ 1) == Byte.doubleQuote {
                    destination.append(byte)
                    escapes &+= 1
                    offset = search(from: offset &+ 2, Byte.doubleQuote, Byte.doubleQuote)
                    continue
                }
                break
            }
            offset = search(from: try copySuspect(at: offset), Byte.doubleQuote, Byte.doubleQuote)
        }
        if offset == pairStart &+ 1 {
            // An empty name is reported before what follows it.
            throw error(.emptyColumnName, pairStart)
        }
        guard offset &+ 1 < end, loadByte(base, offset &+ 1) == Byte.equals else {
            throw error(.missingEquals, offset &+ 1)
        }
        guard offset &+ 2 < end else {
            throw error(.expectedValue, offset &+ 2)
        }
        return offset
    }

    /// The rest of a value whose search stopped at `offset` on something other
    /// than a closing `'` followed by a space. Returns the offset of the closing quote.
    private mutating func finishValue(
        at stop: Int, valueStart: Int, escapes: inout Int
    ) throws(PendingDecodingError) -> Int {
        var offset = stop
        while true {
            guard offset < end else {
                throw error(.unterminatedValue, valueStart &- 1)
            }
            let byte = loadByte(base, offset)
            if byte == Byte.singleQuote || byte == Byte.backslash {
                if offset &+ 1 < end, loadByte(base, offset &+ 1) == byte {
                    destination.append(byte)
                    escapes &+= 1
                    offset = search(from: offset &+ 2, Byte.singleQuote, Byte.backslash)
                    continue
                }
                if byte == Byte.backslash {
                    throw error(.loneBackslash, offset)
                }
                break
            }
            offset = search(from: try copySuspect(at: offset), Byte.singleQuote, Byte.backslash)
        }
        guard offset &+ 1 < end else {
            throw error(.missingSpaceAfterValue, offset &+ 1)
        }
        let after = loadByte(base, offset &+ 1)
        guard after == Byte.space else {
            if after == Byte.doubleQuote {
                throw error(.missingSpaceAfterValue, offset &+ 1)
            }
            throw error(.loneQuote, offset)
        }
        return offset
    }

    /// What the duplicate check compares first: the raw name's first eight
    /// bytes, or for a shorter name its bytes with its length in the top byte
    /// (read from the window near the row's end).
    @inline(__always)
    private func nameKey(start: Int, length: Int) -> UInt64 {
        let word = UInt64(littleEndian: start &+ 8 <= end
            ? base.loadUnaligned(fromByteOffset: start, as: UInt64.self)
            : window.loadUnaligned(fromByteOffset: start &- windowStart, as: UInt64.self))
        guard length < 8 else {
            return word
        }
        let unused = UInt64(truncatingIfNeeded: 64 &- 8 &* length)
        return word & (UInt64.max &>> unused) | UInt64(truncatingIfNeeded: length) &<< 56
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
/// check's keys, names and table (see `DuplicateNameCheck.init`).
struct ScannerScratch {
    static let windowSize = 32

    let window: UnsafeMutableRawPointer
    let keys: UnsafeMutablePointer<UInt64>
    let entries: UnsafeMutableBufferPointer<NameEntry>
    let slots: UnsafeMutableBufferPointer<Int16>

    /// Scratch on the heap, for a decoder that scans many rows; free it with `deallocate()`.
    static func allocate() -> ScannerScratch {
        ScannerScratch(
            window: .allocate(byteCount: windowSize, alignment: 16),
            keys: .allocate(capacity: DuplicateNameCheck.pairwiseLimit),
            entries: .allocate(capacity: DuplicateNameCheck.stackCapacity),
            slots: .allocate(capacity: DuplicateNameCheck.stackSlots))
    }

    func deallocate() {
        window.deallocate()
        keys.deallocate()
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
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: DuplicateNameCheck.pairwiseLimit) { keys in
                withUnsafeTemporaryAllocation(byteCount: ScannerScratch.windowSize, alignment: 16) { window in
                    body(ScannerScratch(
                        window: window.baseAddress.unsafelyUnwrapped, keys: keys.baseAddress.unsafelyUnwrapped,
                        entries: entries, slots: slots))
                }
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
