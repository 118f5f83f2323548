// Byte-level helpers of the decoder's hot loops: vector and word searches,
// UTF-8 sequences, short copies and comparisons.
//
// A function that takes a base pointer and half-open offsets never reads
// outside [start, end). Vectors and words are loaded unaligned and read as
// little-endian, so the lowest flagged byte is the first match in memory order.

/// The bytes the format gives meaning to.
enum Byte {
    static let nul: UInt8 = 0x00
    static let space: UInt8 = 0x20
    static let doubleQuote: UInt8 = 0x22
    static let singleQuote: UInt8 = 0x27
    static let equals: UInt8 = 0x3D
    static let backslash: UInt8 = 0x5C
}

private let lowBits: UInt64 = 0x0101_0101_0101_0101
private let highBits: UInt64 = 0x8080_8080_8080_8080

/// Sets the high bit of each zero byte of `word`. Bits above the first zero byte may
/// be set spuriously, so only the lowest set bit is exact; callers use just that one.
@inline(__always)
private func zeroBytes(_ word: UInt64) -> UInt64 {
    (word &- lowBits) & ~word & highBits
}

@inline(__always)
private func loadWord(_ base: UnsafeRawPointer, _ offset: Int) -> UInt64 {
    UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
}

@inline(__always)
func loadByte(_ base: UnsafeRawPointer, _ offset: Int) -> UInt8 {
    base.load(fromByteOffset: offset, as: UInt8.self)
}

/// The bytes of `word` that are `first`, `second`, NUL or not ASCII (≥ 0x80),
/// flagged by their high bit; only the lowest flag is exact (see `zeroBytes`).
@inline(__always)
func delimiterOrSuspectFlags(_ word: UInt64, _ first: UInt8, _ second: UInt8) -> UInt64 {
    zeroBytes(word ^ (UInt64(first) &* lowBits)) | zeroBytes(word ^ (UInt64(second) &* lowBits))
        | zeroBytes(word) | word & highBits
}

/// The lanes of `vector` that are `first`, `second`, NUL or not ASCII (≥ 0x80),
/// as two little-endian words of 0x00/0xFF bytes: zero when there are none.
@inline(__always)
func delimiterOrSuspectHits(_ vector: SIMD16<UInt8>, _ first: UInt8, _ second: UInt8) -> SIMD2<UInt64> {
    // Typed constants: written inline as SIMD16(repeating:), the compares
    // compiled to a loop over the lanes.
    let firstVector = SIMD16<UInt8>(repeating: first)
    let secondVector = SIMD16<UInt8>(repeating: second)
    let one = SIMD16<Int8>(repeating: 1)
    // As a signed byte, "NUL or not ASCII" is exactly "less than 1": one compare.
    let suspects = unsafeBitCast(vector, to: SIMD16<Int8>.self) .< one
    let delimiters = (vector .== firstVector) .| (vector .== secondVector)
    return unsafeBitCast(delimiters, to: SIMD2<UInt64>.self) | unsafeBitCast(suspects, to: SIMD2<UInt64>.self)
}

/// The first lane flagged in `hits` (from `delimiterOrSuspectHits`), or 16 if none.
@inline(__always)
func firstHitLane(_ hits: SIMD2<UInt64>) -> Int {
    let low = UInt64(littleEndian: hits[0]).trailingZeroBitCount
    let bit = low < 64 ? low : 64 &+ UInt64(littleEndian: hits[1]).trailingZeroBitCount
    return bit &>> 3
}

/// The offset of the first byte in `start..<end` that is `first` or `second`, or `end`.
/// For unescaping input already validated.
@inline(__always)
func firstDelimiter(
    _ base: UnsafeRawPointer, from start: Int, to end: Int, _ first: UInt8, _ second: UInt8
) -> Int {
    let firstMask = UInt64(first) &* lowBits
    let secondMask = UInt64(second) &* lowBits
    var offset = start
    let firstVector = SIMD16<UInt8>(repeating: first)
    let secondVector = SIMD16<UInt8>(repeating: second)
    while offset &+ 16 <= end {
        let vector = base.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
        let words = unsafeBitCast((vector .== firstVector) .| (vector .== secondVector), to: SIMD2<UInt64>.self)
        if words[0] | words[1] != 0 {
            let low = UInt64(littleEndian: words[0]).trailingZeroBitCount
            let bit = low < 64 ? low : 64 &+ UInt64(littleEndian: words[1]).trailingZeroBitCount
            return offset &+ (bit &>> 3)
        }
        offset &+= 16
    }
    if offset &+ 8 <= end {
        let word = loadWord(base, offset)
        let hits = zeroBytes(word ^ firstMask) | zeroBytes(word ^ secondMask)
        if hits != 0 {
            return offset &+ (hits.trailingZeroBitCount &>> 3)
        }
        offset &+= 8
    }
    while offset < end {
        let byte = loadByte(base, offset)
        if byte == first || byte == second {
            return offset
        }
        offset &+= 1
    }
    return end
}

/// The offset just past the well-formed UTF-8 sequence whose lead byte (≥ 0x80) is at
/// `offset`, or nil if the sequence is ill-formed or runs past `end`. Follows the
/// Unicode table of well-formed sequences: no overlongs, no surrogates, nothing above U+10FFFF.
func endOfUTF8Sequence(_ base: UnsafeRawPointer, at offset: Int, end: Int) -> Int? {
    let lead = loadByte(base, offset)
    let trailing: Int
    var secondLow: UInt8 = 0x80
    var secondHigh: UInt8 = 0xBF
    switch lead {
    case 0xC2...0xDF:
        trailing = 1
    case 0xE0:
        trailing = 2
        secondLow = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF:
        trailing = 2
    case 0xED:
        trailing = 2
        secondHigh = 0x9F
    case 0xF0:
        trailing = 3
        secondLow = 0x90
    case 0xF1...0xF3:
        trailing = 3
    case 0xF4:
        trailing = 3
        secondHigh = 0x8F
    default:
        return nil
    }
    guard end - offset > trailing else {
        return nil
    }
    let second = loadByte(base, offset + 1)
    guard second >= secondLow, second <= secondHigh else {
        return nil
    }
    var next = offset + 2
    while next <= offset + trailing {
        let byte = loadByte(base, next)
        guard byte >= 0x80, byte <= 0xBF else {
            return nil
        }
        next += 1
    }
    return next
}

/// Copies `count` bytes; short copies stay inline instead of calling memmove.
@inline(__always)
func copyBytes(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ count: Int) {
    if count >= 8 {
        if count <= 16 {
            // Two possibly overlapping words cover 8...16 bytes.
            destination.storeBytes(of: source.loadUnaligned(as: UInt64.self), as: UInt64.self)
            (destination + count - 8).storeBytes(
                of: (source + count - 8).loadUnaligned(as: UInt64.self), as: UInt64.self)
        } else {
            destination.copyMemory(from: source, byteCount: count)
        }
        return
    }
    if count >= 4 {
        destination.storeBytes(of: source.loadUnaligned(as: UInt32.self), as: UInt32.self)
        (destination + count - 4).storeBytes(
            of: (source + count - 4).loadUnaligned(as: UInt32.self), as: UInt32.self)
    } else if count >= 2 {
        destination.storeBytes(of: source.loadUnaligned(as: UInt16.self), as: UInt16.self)
        (destination + count - 2).storeBytes(
            of: (source + count - 2).loadUnaligned(as: UInt16.self), as: UInt16.self)
    } else if count == 1 {
        destination.storeBytes(of: loadByte(source, 0), as: UInt8.self)
    }
}

/// Whether `length` bytes at `a` equal those at `b`.
@inline(__always)
func memoryEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ length: Int) -> Bool {
    var index = 0
    while index &+ 8 <= length {
        if a.loadUnaligned(fromByteOffset: index, as: UInt64.self) != b.loadUnaligned(fromByteOffset: index, as: UInt64.self) {
            return false
        }
        index &+= 8
    }
    while index < length {
        if loadByte(a, index) != loadByte(b, index) {
            return false
        }
        index &+= 1
    }
    return true
}
