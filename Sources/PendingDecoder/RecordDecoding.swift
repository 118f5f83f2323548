// Decoding one encoded row into a row record, in one pass.
//
// The scanner validates the row and copies its text as it goes, straight
// into the record's text area: unescaped text is never longer than its
// encoding, so the input's size (plus the scanner's 16 bytes of overrun)
// bounds it. The bounds are kept aside meanwhile and placed after the text
// once the number of columns is known. The space reserved for a record
// covers that too for all but rows of very many short columns; for those,
// the record is moved to an allocation of its exact size.

/// Space reserved for the record of an `encodedCount`-byte row: header, text
/// with the scanner's overrun, and room for bounds (a pair costs at least 4
/// bytes of syntax, its bounds 8), within 512 bytes of the text's bound.
@inline(__always)
func reservedRecordSize(encodedCount: Int) -> Int {
    // No overflow: the count of a buffer in memory is far below Int.max.
    RowRecord.headerSize &+ encodedCount &+ 16 &+ min(encodedCount &>> 1, 512)
}

/// The counts of a record written by `decodeRecord`, and its size.
struct DecodedRecord {
    let columns: Int
    let textCount: Int
    let size: Int

    init(columns: Int, textCount: Int) {
        self.columns = columns
        self.textCount = textCount
        size = RowRecord.size(count: columns, textCount: textCount)
    }
}

/// Decodes the non-empty, size-checked row `source[0..<count]` into the
/// record at `record`, which has `available` bytes (at least
/// `reservedRecordSize(encodedCount: count)`), with `scratch` and `bounds`
/// as scratch memory. When the record turns out larger than `available`,
/// only its text is written; `relocatedRecord` then finishes it elsewhere.
@inline(__always)
func decodeRecord(
    _ source: UnsafeRawPointer, count: Int, at record: UnsafeMutableRawPointer, available: Int,
    scratch: ScannerScratch, bounds: inout BoundsScratch
) throws(PendingDecodingError) -> DecodedRecord {
    var scanner = RowScanner(
        base: source, end: count, scratch: scratch,
        destination: TextWriter(text: record + RowRecord.headerSize, bounds: bounds))
    defer {
        scanner.release()
        // The bounds scratch may have grown, even for a row that failed.
        bounds = scanner.destination.bounds
    }
    while try scanner.next() != nil {}
    let decoded = DecodedRecord(columns: scanner.count, textCount: scanner.destination.written)
    if decoded.size <= available {
        writeIndex(of: decoded, to: RowRecord(record), bounds: scanner.destination.bounds)
    }
    return decoded
}

/// The record `decodeRecord` left unfinished at `record` for lack of room,
/// moved to a block of its own.
@inline(never)
func relocatedRecord(
    _ decoded: DecodedRecord, from record: UnsafeMutableRawPointer, bounds: BoundsScratch
) -> (block: RowBlock, record: RowRecord) {
    let block = RowBlock.make(byteCount: decoded.size)
    let moved = RowRecord(block.bytes)
    moved.text.copyMemory(from: record + RowRecord.headerSize, byteCount: decoded.textCount)
    writeIndex(of: decoded, to: moved, bounds: bounds)
    return (block, moved)
}

/// Decodes a row into a block of its own, reserved from its encoded length
/// (`PendingRow(decoding:)`, and rows too large to share a decoder's block).
@inline(__always)
func decodeInOwnBlock(
    _ source: UnsafeRawPointer, count: Int, scratch: ScannerScratch, bounds: inout BoundsScratch
) throws(PendingDecodingError) -> PendingRow {
    let reserved = reservedRecordSize(encodedCount: count)
    let block = RowBlock.make(byteCount: reserved)
    let decoded = try decodeRecord(source, count: count, at: block.bytes, available: reserved, scratch: scratch, bounds: &bounds)
    guard decoded.size <= reserved else {
        let moved = relocatedRecord(decoded, from: block.bytes, bounds: bounds)
        return PendingRow(block: moved.block, record: moved.record)
    }
    return PendingRow(block: block, record: RowRecord(block.bytes))
}

/// Writes the header and the bounds (from `bounds`) of a record whose text is in place.
@inline(__always)
private func writeIndex(of decoded: DecodedRecord, to record: RowRecord, bounds: BoundsScratch) {
    record.writeHeader(count: decoded.columns, textCount: decoded.textCount)
    // A column's two bounds at a time: rows are mostly too narrow for memcpy to
    // pay. A loop over pointers, not column numbers: counting columns here let
    // the optimizer keep extra counters for this loop in the scanner's loop.
    var source = UnsafeRawPointer(bounds.pointer)
    var target = record.bounds
    let end = source + 8 &* decoded.columns
    while source < end {
        target.storeBytes(of: source.load(as: UInt64.self), as: UInt64.self)
        source += 8
        target += 8
    }
}
