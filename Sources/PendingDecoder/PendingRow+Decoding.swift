// Building a PendingRow from its encoding: one validating pass that unescapes
// into scratch memory, then one exact allocation.

extension PendingRow {
    /// Decodes one encoded row (docs/FORMAT.md).
    ///
    /// - Throws: ``PendingDecodingError`` for any malformed input, with the byte
    ///   offset and column; a row is either decoded whole or not at all.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(PendingDecodingError) {
        guard !bytes.isEmpty else {
            self.init(storage: .empty)
            return
        }
        guard bytes.count <= RowScanner.maximumRowSize else {
            throw PendingDecodingError(.rowTooLarge, offset: RowScanner.maximumRowSize, columnIndex: nil)
        }
        // A pair takes at least 5 bytes (`"x"= `), and unescaping only shortens.
        let maximumColumns = bytes.count / 5 + 1
        let scratchWords = 2 * maximumColumns + (bytes.count + 3) / 4
        let storage = try withUnsafeTemporaryAllocation(of: UInt32.self, capacity: scratchWords) {
            (scratch) throws(PendingDecodingError) -> PendingRowStorage in
            let bounds = UnsafeMutableBufferPointer(rebasing: scratch[0..<(2 * maximumColumns)])
            let text = UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(scratch)[(8 * maximumColumns)...])
            var textCount = 0
            let count = try PendingDecoder.forEachColumn(in: bytes) { field in
                textCount += field.unescapeName(into: UnsafeMutableRawBufferPointer(rebasing: text[textCount...]))
                bounds[2 * field.index] = UInt32(textCount)
                if field.isNull {
                    bounds[2 * field.index + 1] = UInt32(textCount) | PendingRowStorage.nullFlag
                } else {
                    textCount += field.unescapeValue(into: UnsafeMutableRawBufferPointer(rebasing: text[textCount...]))
                    bounds[2 * field.index + 1] = UInt32(textCount)
                }
            }
            let storage = PendingRowStorage.make(count: count, textCount: textCount)
            storage.withParts { targetBounds, targetText in
                _ = targetBounds.update(fromContentsOf: bounds[0..<(2 * count)])
                if textCount > 0, let source = text.baseAddress, let destination = targetText.baseAddress {
                    destination.copyMemory(from: source, byteCount: textCount)
                }
            }
            return storage
        }
        self.init(storage: storage)
    }

    /// Decodes one encoded row held in an array of bytes.
    public init(decoding bytes: [UInt8]) throws(PendingDecodingError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(PendingDecodingError) -> PendingRow in try PendingRow(decoding: raw) }
        }
        self = try result.get()
    }

    /// Decodes one encoded row held in a string (its UTF-8 bytes).
    public init(decoding text: String) throws(PendingDecodingError) {
        var text = text
        let result = text.withUTF8 { utf8 in
            Result { () throws(PendingDecodingError) -> PendingRow in
                try PendingRow(decoding: UnsafeRawBufferPointer(utf8))
            }
        }
        self = try result.get()
    }
}
