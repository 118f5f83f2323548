// Reading an encoded row pair by pair: the grammar of docs/FORMAT.md,
// checked one pair at a time (the row and its searches: ScannedRow.swift).

/// Walks an encoded row pair by pair, validating as it goes, and hands the
/// unescaped text to its `destination` on the way.
///
/// Each call to `next()` checks one whole pair (quoting, NUL, UTF-8, empty and
/// repeated names) before returning it, so a pair is only ever seen complete.
struct RowScanner<Destination: TextDestination> {
    private let row: ScannedRow
    private var position = 0
    private var columnIndex = 0
    private var names: DuplicateNameCheck
    var destination: Destination

    /// The scanner reads `base[0..<end]` and uses `scratch` (one row at a time).
    init(base: UnsafeRawPointer, end: Int, scratch: ScannerScratch, destination: Destination) {
        row = ScannedRow(base: base, end: end, window: scratch.window)
        names = DuplicateNameCheck(entries: scratch.entries, slots: scratch.slots)
        self.destination = destination
    }

    /// Frees what the scan allocated (the duplicate check of a very wide row).
    func release() {
        names.release()
    }

    /// The number of pairs returned so far.
    var count: Int { columnIndex }

    /// The next pair, or nil at the end of the row. Inlined into its two loops (the
    /// walk and row decoding) so the field never makes a trip through memory.
    ///
    /// Each field's end is first checked the quick way, two bytes at once: a
    /// name's `"=` and a value's `' `. Anything else (an escape, a byte that is
    /// not ASCII, an error) goes to `finishName` or `finishValue`, which apply
    /// the whole grammar from there. They get a copy of the destination, not
    /// the scanner's own, so that the scanner never needs an address.
    @inline(__always)
    mutating func next() throws(PendingDecodingError) -> PendingField? {
        let base = row.base
        let end = row.end
        let pairStart = position
        guard pairStart < end else {
            return nil
        }
        guard loadByte(base, pairStart) == Byte.doubleQuote else {
            throw scanError(.expectedNameQuote, pairStart, columnIndex)
        }

        // The name: up to the first `"` that is not doubled, then `=` and one more byte.
        let nameStart = pairStart &+ 1
        var nameEnd = row.search(from: nameStart, Byte.doubleQuote, Byte.doubleQuote, into: &destination)
        var nameEscapes = 0
        if !(nameEnd &+ 2 < end && row.loadPair(nameEnd) == Self.nameClose) {
            var text = destination
            (nameEnd, nameEscapes) = try row.finishName(
                at: nameEnd, pairStart: pairStart, column: columnIndex, into: &text)
            destination = text
        }
        guard nameEnd > nameStart else {
            throw scanError(.emptyColumnName, pairStart, columnIndex)
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
            offset = row.search(from: valueStart, Byte.singleQuote, Byte.backslash, into: &destination)
            var valueEscapes = 0
            if !(offset &+ 1 < end && row.loadPair(offset) == Self.valueClose) {
                var text = destination
                (offset, valueEscapes) = try row.finishValue(
                    at: offset, valueStart: valueStart, column: columnIndex, into: &text)
                destination = text
            }
            destination.endValue(column: columnIndex, isNull: false)
            rawValue = UnsafeRawBufferPointer(start: base + valueStart, count: offset &- valueStart)
            valueCount = offset &- valueStart &- valueEscapes
            position = offset &+ 2
        default:
            throw scanError(.expectedValue, offset, columnIndex)
        }

        let nameLength = nameEnd &- nameStart
        let key = row.nameKey(start: nameStart, length: nameLength)
        guard names.insert(start: nameStart, length: nameLength, key: key, in: base, count: columnIndex) else {
            throw scanError(.duplicateColumn, pairStart, columnIndex)
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
            window: zeroedWindow(.allocate(byteCount: windowSize, alignment: 16)),
            entries: .allocate(capacity: DuplicateNameCheck.stackCapacity),
            slots: .allocate(capacity: DuplicateNameCheck.stackSlots))
    }

    func deallocate() {
        window.deallocate()
        entries.deallocate()
        slots.deallocate()
    }
}

/// `window` with its second half zeroed: the NULs that end every search
/// near a row's end (`ScannedRow` rewrites only the first half).
private func zeroedWindow(_ window: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
    window.storeBytes(of: SIMD16<UInt8>(), toByteOffset: 16, as: SIMD16<UInt8>.self)
    return window
}

/// Runs `body` with scanner scratch on the stack (under 1 KiB each part, so
/// no stack-space check is needed).
@inline(__always)
func withScannerScratch<R>(_ body: (ScannerScratch) -> R) -> R {
    withUnsafeTemporaryAllocation(of: NameEntry.self, capacity: DuplicateNameCheck.stackCapacity) { entries in
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: DuplicateNameCheck.stackSlots) { slots in
            withUnsafeTemporaryAllocation(byteCount: ScannerScratch.windowSize, alignment: 16) { window in
                body(ScannerScratch(
                    window: zeroedWindow(window.baseAddress.unsafelyUnwrapped), entries: entries, slots: slots))
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
