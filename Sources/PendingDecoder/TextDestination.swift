// Where the scanner puts the text it passes over: nowhere for the walk, a
// row record for decoding. The scanner is generic over this, so each use
// compiles to its own loop and the walk pays nothing for the copying.

/// Receives the unescaped names and values of a row as the scanner finds them.
protocol TextDestination {
    /// Stores 16 input bytes at the write position without advancing: the
    /// search copies ahead and then keeps only the bytes before the delimiter
    /// it found (`advance(by:)`). The destination must have room for it.
    mutating func stage(_ bytes: SIMD16<UInt8>)
    /// Keeps `count` bytes of what `stage` stored.
    mutating func advance(by count: Int)
    /// Writes one byte: the single character of a doubled escape.
    mutating func append(_ byte: UInt8)
    /// Writes `count` bytes from `source`: a validated UTF-8 sequence.
    mutating func append(_ source: UnsafeRawPointer, count: Int)
    /// The name of column `column` is complete.
    mutating func endName(column: Int)
    /// The value of column `column` (NULL when `isNull`) is complete.
    mutating func endValue(column: Int, isNull: Bool)
}

/// The walk's destination: the text is only validated, not kept.
struct DiscardedText: TextDestination {
    @inline(__always) mutating func stage(_ bytes: SIMD16<UInt8>) {}
    @inline(__always) mutating func advance(by count: Int) {}
    @inline(__always) mutating func append(_ byte: UInt8) {}
    @inline(__always) mutating func append(_ source: UnsafeRawPointer, count: Int) {}
    @inline(__always) mutating func endName(column: Int) {}
    @inline(__always) mutating func endValue(column: Int, isNull: Bool) {}
}

/// Decoding's destination: the text of a row record, written in order, and
/// its bounds, kept aside until the number of columns is known.
///
/// The text area must hold the input's size plus 16 bytes: unescaped text
/// is never longer than its encoding, and `stage` writes up to 15 bytes past
/// what is kept.
struct TextWriter: TextDestination {
    let text: UnsafeMutableRawPointer
    private(set) var written = 0
    var bounds: BoundsScratch

    init(text: UnsafeMutableRawPointer, bounds: BoundsScratch) {
        self.text = text
        self.bounds = bounds
    }

    @inline(__always)
    mutating func stage(_ bytes: SIMD16<UInt8>) {
        (text + written).storeBytes(of: bytes, as: SIMD16<UInt8>.self)
    }

    @inline(__always)
    mutating func advance(by count: Int) {
        written &+= count
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        text.storeBytes(of: byte, toByteOffset: written, as: UInt8.self)
        written &+= 1
    }

    @inline(__always)
    mutating func append(_ source: UnsafeRawPointer, count: Int) {
        copyBytes(text + written, source, count)
        written &+= count
    }

    @inline(__always)
    mutating func endName(column: Int) {
        if 2 &* column &+ 2 > bounds.capacity {
            bounds = bounds.grown()
        }
        bounds.pointer[2 &* column] = UInt32(truncatingIfNeeded: written)
    }

    @inline(__always)
    mutating func endValue(column: Int, isNull: Bool) {
        bounds.pointer[2 &* column &+ 1] = UInt32(truncatingIfNeeded: written) | (isNull ? RowRecord.nullFlag : 0)
    }
}

/// Memory for the bounds of a row being decoded: caller-provided at first
/// (the stack, or a decoder's buffer), moved to a larger heap buffer when a
/// row has more columns than it holds. `release()` frees what it allocated.
struct BoundsScratch {
    private(set) var pointer: UnsafeMutablePointer<UInt32>
    private(set) var capacity: Int
    private var allocated = false

    /// Uses `capacity` words at `pointer`, which the caller owns.
    init(borrowing pointer: UnsafeMutablePointer<UInt32>, capacity: Int) {
        self.pointer = pointer
        self.capacity = capacity
    }

    /// Allocates `capacity` words, freed by `release()`.
    init(allocatingCapacity capacity: Int) {
        pointer = .allocate(capacity: capacity)
        self.capacity = capacity
        allocated = true
    }

    /// The same contents at twice the capacity; this scratch is released.
    /// Not `mutating`: the scanner holding it then never needs an address.
    @inline(never)
    func grown() -> BoundsScratch {
        let larger = BoundsScratch(allocatingCapacity: 2 * capacity)
        larger.pointer.update(from: pointer, count: capacity)
        release()
        return larger
    }

    /// Frees the heap buffer, if `grow()` made one.
    func release() {
        if allocated {
            pointer.deallocate()
        }
    }
}
