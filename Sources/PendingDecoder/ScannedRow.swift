// The row a RowScanner reads, and the searches and slow paths over it.
//
// Searches for a field's end go 16 bytes at a time. The last 16 bytes of
// the row are also held in a small window followed by 16 NUL bytes, so a
// search near the end of the row still reads 16 bytes at once without
// reading past the input: it stops at the window's first NUL, which is where
// the row ends (callers treat reaching the end as "not found").
//
// Everything here takes the row by value and the destination `inout`, never
// the scanner: a scanner whose address went to an out-of-line call would be
// kept in memory, and its inlined fast path would store every field it
// changes (about 7 % of the instructions of decoding a pgbench row).

/// The largest input accepted: offsets inside a decoded row are 31-bit.
let maximumEncodedRowSize = Int(Int32.max)

/// An encoded row being scanned: its bytes and the window over its end.
/// Read-only, four words, cheap to pass by value.
struct ScannedRow {
    let base: UnsafeRawPointer
    let end: Int
    /// The row's last `end - windowStart` bytes, then NULs (32 bytes in all).
    private let window: UnsafeRawPointer
    private let windowStart: Int

    /// Fills `window` (32 bytes, its second half already zero) from `base[0..<end]`.
    @inline(__always)
    init(base: UnsafeRawPointer, end: Int, window: UnsafeMutableRawPointer) {
        self.base = base
        self.end = end
        if end >= 16 {
            windowStart = end &- 16
            window.storeBytes(
                of: base.loadUnaligned(fromByteOffset: windowStart, as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
        } else {
            windowStart = 0
            window.storeBytes(of: SIMD16<UInt8>(), as: SIMD16<UInt8>.self)
            copyBytes(window, base, end)
        }
        self.window = UnsafeRawPointer(window)
    }

    /// The two bytes at `offset` (which must be in the row, as must the next).
    @inline(__always)
    func loadPair(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// What the duplicate check's filter hashes for the raw name at
    /// `start..<start + length`: its first two bytes, its last two and its
    /// length. Equal names have equal keys. A one-byte name's two-byte reads
    /// take in the quote on either side, the same for every name; all reads
    /// stay within the pair, so no window is needed.
    @inline(__always)
    func nameKey(start: Int, length: Int) -> UInt64 {
        let head = base.loadUnaligned(fromByteOffset: start, as: UInt16.self)
        let tail = base.loadUnaligned(fromByteOffset: start &+ length &- 2, as: UInt16.self)
        return UInt64(head) | UInt64(tail) &<< 16 | UInt64(truncatingIfNeeded: length) &<< 32
    }

    /// The offset of the first byte from `start` on that is `first`, `second`,
    /// NUL or not ASCII, or `end`; the bytes before it go to `destination`.
    @inline(__always)
    func search<Destination: TextDestination>(
        from start: Int, _ first: UInt8, _ second: UInt8, into destination: inout Destination
    ) -> Int {
        var offset = start
        if offset &+ 16 <= end {
            // Most fields end within 8 bytes: a first look at one word, in
            // general-purpose registers, finds those sooner than the vector
            // compare and the move of its result out of the vector registers
            // (each field's end is needed before the next field's search can
            // start, so this latency is what a row's decoding waits on).
            let vector = base.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
            destination.stage(vector)
            let flags = delimiterOrSuspectFlags(
                UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), first, second)
            if flags != 0 {
                let lane = flags.trailingZeroBitCount &>> 3
                destination.advance(by: lane)
                return offset &+ lane
            }
        }
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

    /// The rest of column `column`'s name, whose search stopped at `stop` on
    /// something other than a closing `"` followed by `=` and another byte.
    /// Returns the offset of the closing quote, once the `=` and the byte
    /// after it are known to be there, and the number of doubled quotes.
    @inline(never)
    func finishName<Destination: TextDestination>(
        at stop: Int, pairStart: Int, column: Int, into destination: inout Destination
    ) throws(PendingDecodingError) -> (end: Int, escapes: Int) {
        var offset = stop
        var escapes = 0
        while true {
            guard offset < end else {
                throw scanError(.unterminatedName, pairStart, column)
            }
            let byte = loadByte(base, offset)
            if byte == Byte.doubleQuote {
                if offset &+ 1 < end, loadByte(base, offset &+ 1) == Byte.doubleQuote {
                    destination.append(byte)
                    escapes &+= 1
                    offset = search(from: offset &+ 2, Byte.doubleQuote, Byte.doubleQuote, into: &destination)
                    continue
                }
                break
            }
            let next = try copySuspect(at: offset, column: column, into: &destination)
            offset = search(from: next, Byte.doubleQuote, Byte.doubleQuote, into: &destination)
        }
        if offset == pairStart &+ 1 {
            // An empty name is reported before what follows it.
            throw scanError(.emptyColumnName, pairStart, column)
        }
        guard offset &+ 1 < end, loadByte(base, offset &+ 1) == Byte.equals else {
            throw scanError(.missingEquals, offset &+ 1, column)
        }
        guard offset &+ 2 < end else {
            throw scanError(.expectedValue, offset &+ 2, column)
        }
        return (offset, escapes)
    }

    /// The rest of column `column`'s value, whose search stopped at `stop` on
    /// something other than a closing `'` followed by a space. Returns the
    /// offset of the closing quote and the number of doubled quotes and backslashes.
    @inline(never)
    func finishValue<Destination: TextDestination>(
        at stop: Int, valueStart: Int, column: Int, into destination: inout Destination
    ) throws(PendingDecodingError) -> (end: Int, escapes: Int) {
        var offset = stop
        var escapes = 0
        while true {
            guard offset < end else {
                throw scanError(.unterminatedValue, valueStart &- 1, column)
            }
            let byte = loadByte(base, offset)
            if byte == Byte.singleQuote || byte == Byte.backslash {
                if offset &+ 1 < end, loadByte(base, offset &+ 1) == byte {
                    destination.append(byte)
                    escapes &+= 1
                    offset = search(from: offset &+ 2, Byte.singleQuote, Byte.backslash, into: &destination)
                    continue
                }
                if byte == Byte.backslash {
                    throw scanError(.loneBackslash, offset, column)
                }
                break
            }
            let next = try copySuspect(at: offset, column: column, into: &destination)
            offset = search(from: next, Byte.singleQuote, Byte.backslash, into: &destination)
        }
        guard offset &+ 1 < end else {
            throw scanError(.missingSpaceAfterValue, offset &+ 1, column)
        }
        let after = loadByte(base, offset &+ 1)
        guard after == Byte.space else {
            if after == Byte.doubleQuote {
                throw scanError(.missingSpaceAfterValue, offset &+ 1, column)
            }
            throw scanError(.loneQuote, offset, column)
        }
        return (offset, escapes)
    }

    /// Checks the NUL or non-ASCII byte at `offset`, hands its UTF-8 sequence to
    /// `destination` and returns the offset after it.
    @inline(__always)
    private func copySuspect<Destination: TextDestination>(
        at offset: Int, column: Int, into destination: inout Destination
    ) throws(PendingDecodingError) -> Int {
        if loadByte(base, offset) == Byte.nul {
            throw scanError(.nulByte, offset, column)
        }
        guard let next = endOfUTF8Sequence(base, at: offset, end: end) else {
            throw scanError(.invalidUTF8, offset, column)
        }
        destination.append(base + offset, count: next &- offset)
        return next
    }
}

/// The error of column `column` at byte `offset`; out of line, so the paths
/// that throw stay short.
@inline(never)
func scanError(_ kind: PendingDecodingError.Kind, _ offset: Int, _ column: Int) -> PendingDecodingError {
    PendingDecodingError(kind, offset: offset, columnIndex: column)
}
