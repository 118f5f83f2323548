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
    RowRecord.headerSize + encodedCount + 16 + min(encodedCount / 2, 512)
}

/// Decodes the non-empty, size-checked row `source[0..<count]` into the
/// record at `record`, which has `available` bytes (at least
/// `reservedRecordSize(encodedCount: count)`), with `scratch` and `bounds`
/// as scratch memory. Returns the record and its size: the one at `record`,
/// or, when the record turned out larger than `available`, one in a block of its own.
@inline(__always)
func decodeRecord(
    _ source: UnsafeRawPointer, count: Int, at record: UnsafeMutableRawPointer, available: Int,
    scratch: ScannerScratch, bounds: inout BoundsScratch
) throws(PendingDecodingError) -> (block: RowBlock?, record: RowRecord, size: Int) {
    var scanner = RowScanner(
        base: source, end: count, scratch: scratch,
        destination: TextWriter(text: record + RowRecord.headerSize, bounds: bounds))
    defer {
        scanner.release()
        // The bounds scratch may have grown, even for a row that failed.
        bounds = scanner.destination.bounds
    }
    while try scanner.next() != nil {}
    let columns = scanner.count
    let textCount = scanner.destination.written
    let size = RowRecord.size(count: columns, textCount: textCount)
    var block: RowBlock?
    var target = RowRecord(record)
    if size > available {
        let own = RowBlock.make(byteCount: size)
        (own.bytes + RowRecord.headerSize).copyMemory(from: record + RowRecord.headerSize, byteCount: textCount)
        block = own
        target = RowRecord(own.bytes)
    }
    target.writeHeader(count: columns, textCount: textCount)
    target.bounds.copyMemory(from: scanner.destination.bounds.pointer, byteCount: 8 * columns)
    return (block, target, size)
}
