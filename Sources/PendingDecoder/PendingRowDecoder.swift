/// Decodes many rows into shared storage: the rows of one chunk of the queue.
///
/// Each ``decode(_:)`` validates and copies the row in one pass, as
/// ``PendingRow/init(decoding:)`` does, but into blocks of memory the decoder
/// shares between rows instead of an allocation per row. A row keeps its
/// block alive, so a block is freed only when the last row in it is: use one
/// decoder for rows that are read and dropped together (a chunk), not for rows
/// kept for long. Rows larger than a quarter of a block get a block of their own.
///
/// A decoder is not thread-safe; the rows it returns are, like any `PendingRow`.
public final class PendingRowDecoder {
    /// The size of a shared block.
    public static let blockSize = 64 << 10

    private var block: RowBlock?
    private var used = 0
    private var bounds = BoundsScratch(allocatingCapacity: 256)
    private let scratch = ScannerScratch.allocate()

    public init() {}

    deinit {
        bounds.release()
        scratch.deallocate()
    }

    /// Decodes one encoded row (docs/FORMAT.md).
    ///
    /// - Throws: ``PendingDecodingError`` for any malformed input, with the byte
    ///   offset and column, exactly as ``PendingRow/init(decoding:)`` does. A
    ///   row that fails takes no space; the decoder stays usable.
    public func decode(_ bytes: UnsafeRawBufferPointer) throws(PendingDecodingError) -> PendingRow {
        guard !bytes.isEmpty, let base = bytes.baseAddress else {
            return .empty
        }
        guard bytes.count <= maximumEncodedRowSize else {
            throw PendingDecodingError(.rowTooLarge, offset: maximumEncodedRowSize, columnIndex: nil)
        }
        let reserved = reservedRecordSize(encodedCount: bytes.count)
        // The bounds go through a local: passing a class's stored property
        // inout costs a dynamic exclusivity check per row.
        var bounds = self.bounds
        defer { self.bounds = bounds }
        if reserved > Self.blockSize / 4 {
            let own = RowBlock.make(byteCount: reserved)
            let decoded = try decodeRecord(base, count: bytes.count, at: own.bytes, available: reserved, scratch: scratch, bounds: &bounds)
            return PendingRow(block: decoded.block ?? own, record: decoded.record)
        }
        let current: RowBlock
        var used = self.used
        if let block, Self.blockSize - used >= reserved {
            current = block
        } else {
            current = RowBlock.make(byteCount: Self.blockSize)
            block = current
            used = 0
        }
        let decoded = try decodeRecord(
            base, count: bytes.count, at: current.bytes + used, available: Self.blockSize - used, scratch: scratch,
            bounds: &bounds)
        if let own = decoded.block {
            self.used = used
            return PendingRow(block: own, record: decoded.record)
        }
        // The next record starts 8-byte aligned, as its header and bounds need 4.
        self.used = used + (decoded.size + 7) & ~7
        return PendingRow(block: current, record: decoded.record)
    }
}
