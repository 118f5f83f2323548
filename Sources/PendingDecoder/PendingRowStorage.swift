// The one allocation behind a PendingRow.
//
// Layout of the tail, in 32-bit words then bytes:
//   bounds[2k]     end of column k's name  (byte offset into the text)
//   bounds[2k + 1] end of column k's value, with `nullFlag` set for NULL
//   text           name 0, value 0, name 1, value 1, ... unescaped, back to back
// Column k's name starts where column k - 1's value ends (0 for the first);
// its value starts where its name ends. The layout is a function of the
// columns alone, so equal rows have byte-identical tails.

/// Counts for the header of a row's storage.
struct PendingRowHeader {
    var count: Int
    var textCount: Int
}

/// The buffer of one decoded row: a bounds index followed by the unescaped text.
/// Written once while the row is built, read-only afterwards: that is why
/// `PendingRow` can be `@unchecked Sendable` (ManagedBuffer itself is not Sendable).
final class PendingRowStorage: ManagedBuffer<PendingRowHeader, UInt32> {
    static let nullFlag: UInt32 = 0x8000_0000

    /// Allocates storage for `count` columns and `textCount` bytes of text; the
    /// caller must initialize all of it through `withParts` before sharing it.
    static func make(count: Int, textCount: Int) -> PendingRowStorage {
        let words = 2 * count + (textCount + 3) / 4
        let buffer = PendingRowStorage.create(minimumCapacity: words) { _ in
            PendingRowHeader(count: count, textCount: textCount)
        }
        return unsafeDowncast(buffer, to: PendingRowStorage.self)
    }

    /// The shared storage of every empty row.
    nonisolated(unsafe) static let empty = make(count: 0, textCount: 0)

    /// The header, read through its pointer: the `header` property of a
    /// ManagedBuffer is a class stored property and pays a dynamic exclusivity check.
    private var counts: PendingRowHeader { withUnsafeMutablePointerToHeader { $0.pointee } }

    var count: Int { counts.count }
    var textCount: Int { counts.textCount }

    /// Runs `body` with the bounds (2 words per column) and the text.
    func withParts<R, E: Error>(
        _ body: (UnsafeMutableBufferPointer<UInt32>, UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        let count = counts.count
        let textCount = counts.textCount
        let elements = withUnsafeMutablePointerToElements { $0 }
        return try withExtendedLifetime(self) { () throws(E) -> R in
            let bounds = UnsafeMutableBufferPointer(start: elements, count: 2 * count)
            let text = UnsafeMutableRawBufferPointer(
                start: UnsafeMutableRawPointer(elements + 2 * count), count: textCount)
            return try body(bounds, text)
        }
    }

    /// Runs `body` with pointers to the bounds (2 words per column) and the text;
    /// for filling a new storage.
    func withRawParts<R>(_ body: (UnsafeMutablePointer<UInt32>, UnsafeMutableRawPointer) -> R) -> R {
        let count = counts.count
        let elements = withUnsafeMutablePointerToElements { $0 }
        return withExtendedLifetime(self) {
            body(elements, UnsafeMutableRawPointer(elements + 2 * count))
        }
    }

    /// The index and text as one byte range: what equality and hashing look at.
    func withCanonicalBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        let byteCount = 8 * counts.count + counts.textCount
        let elements = withUnsafeMutablePointerToElements { $0 }
        return withExtendedLifetime(self) {
            body(UnsafeRawBufferPointer(start: UnsafeRawPointer(elements), count: byteCount))
        }
    }
}
