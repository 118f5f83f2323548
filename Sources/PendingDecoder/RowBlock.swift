// The memory behind decoded rows, and the layout of one row in it.
//
// A block is one allocation holding the records of one or more rows back to
// back; every PendingRow keeps its block alive, so a block lives as long as
// any of its rows. A record, at a 4-byte aligned offset of its block:
//   count      UInt32  the number of columns
//   textCount  UInt32  the bytes of text
//   text       name 0, value 0, name 1, value 1, ... unescaped, back to back
//   (padding to a multiple of 4, contents unspecified)
//   bounds     2 × count UInt32:
//     bounds[2k]     end of column k's name  (byte offset into the text)
//     bounds[2k + 1] end of column k's value, with `nullFlag` set for NULL
// Column k's name starts where column k - 1's value ends (0 for the first);
// its value starts where its name ends. The text comes first because
// decoding writes it in one pass before the number of columns is known.

/// One allocation of row records. Each record is written once, by the code
/// that decodes or builds it, before any row refers to it, and is read-only
/// afterwards; later records may still be written into the same block while
/// earlier rows are read elsewhere (disjoint bytes). That is why `PendingRow`
/// can be `@unchecked Sendable` (ManagedBuffer itself is not Sendable).
@usableFromInline
final class RowBlock: ManagedBuffer<Int, UInt64> {
    /// Allocates a block of at least `byteCount` bytes (8-byte aligned).
    static func make(byteCount: Int) -> RowBlock {
        let buffer = RowBlock.create(minimumCapacity: (byteCount + 7) / 8) { _ in byteCount }
        return unsafeDowncast(buffer, to: RowBlock.self)
    }

    /// The start of the block's bytes: stable for the block's lifetime
    /// (the elements are allocated inline with the object).
    var bytes: UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(withUnsafeMutablePointerToElements { $0 })
    }

    /// The block holding the record of every empty row.
    nonisolated(unsafe) static let empty: RowBlock = {
        let block = make(byteCount: RowRecord.headerSize)
        RowRecord(block.bytes).writeHeader(count: 0, textCount: 0)
        return block
    }()
}

/// A view of one row record (see the layout above): a pointer and accessors.
/// It does not keep its block alive; `PendingRow` pairs it with the block.
@usableFromInline
struct RowRecord: Equatable {
    @usableFromInline static let nullFlag: UInt32 = 0x8000_0000
    @usableFromInline static let headerSize = 8

    @usableFromInline let start: UnsafeMutableRawPointer

    init(_ start: UnsafeMutableRawPointer) {
        self.start = start
    }

    @inlinable var count: Int { Int(start.load(as: UInt32.self)) }
    @inlinable var textCount: Int { Int(start.load(fromByteOffset: 4, as: UInt32.self)) }
    @inlinable var text: UnsafeMutableRawPointer { start + Self.headerSize }
    @inlinable var bounds: UnsafeMutableRawPointer { start + Self.boundsOffset(textCount: textCount) }

    /// Bound `index` (2k: end of name k; 2k + 1: end of value k, flagged for NULL).
    @inlinable @inline(__always)
    func bound(_ index: Int, in bounds: UnsafeRawPointer) -> UInt32 {
        bounds.load(fromByteOffset: 4 * index, as: UInt32.self)
    }

    /// Both counts are below 2^31 (the largest row a record is made for).
    func writeHeader(count: Int, textCount: Int) {
        start.storeBytes(of: UInt32(truncatingIfNeeded: count), as: UInt32.self)
        start.storeBytes(of: UInt32(truncatingIfNeeded: textCount), toByteOffset: 4, as: UInt32.self)
    }

    /// Where the bounds start, from the record's start.
    @inlinable @inline(__always)
    static func boundsOffset(textCount: Int) -> Int {
        headerSize &+ ((textCount &+ 3) & ~3)
    }

    /// The bytes of a record of `count` columns and `textCount` bytes of text.
    @inline(__always)
    static func size(count: Int, textCount: Int) -> Int {
        boundsOffset(textCount: textCount) &+ 8 &* count
    }
}
