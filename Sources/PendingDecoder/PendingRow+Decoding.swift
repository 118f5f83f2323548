// Building a PendingRow from its encoding, on its own: one pass, one
// allocation (a second only for rows of very many short columns; see
// RecordDecoding.swift). Rows decoded together share memory through
// PendingRowDecoder instead.

/// Bounds of this many columns live on the stack (1 KiB); wider rows move them to the heap.
private let stackBoundsCapacity = 256

extension PendingRow {
    /// Decodes one encoded row (docs/FORMAT.md) into storage of its own.
    ///
    /// The row's storage has room for the largest text its encoding could hold,
    /// so it may exceed the decoded text by up to about half the encoded size
    /// (at most 512 bytes) plus the bytes of quoting. To decode many rows, a
    /// ``PendingRowDecoder`` is faster and packs them together.
    ///
    /// - Throws: ``PendingDecodingError`` for any malformed input, with the byte
    ///   offset and column; a row is either decoded whole or not at all.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(PendingDecodingError) {
        guard !bytes.isEmpty, let base = bytes.baseAddress else {
            self = .empty
            return
        }
        guard bytes.count <= maximumEncodedRowSize else {
            throw PendingDecodingError(.rowTooLarge, offset: maximumEncodedRowSize, columnIndex: nil)
        }
        let result = withUnsafeTemporaryAllocation(of: UInt32.self, capacity: stackBoundsCapacity) { stack in
            withScannerScratch { scratch in
                var bounds = BoundsScratch(borrowing: stack.baseAddress.unsafelyUnwrapped, capacity: stack.count)
                defer { bounds.release() }
                return Result { () throws(PendingDecodingError) -> PendingRow in
                    try decodeInOwnBlock(base, count: bytes.count, scratch: scratch, bounds: &bounds)
                }
            }
        }
        self = try result.get()
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
