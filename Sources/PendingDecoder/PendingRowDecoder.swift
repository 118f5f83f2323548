/// Decodes many rows into shared storage: the rows of one chunk of the queue.
///
/// Each ``decode(_:)`` validates and copies the row in one pass, as
/// ``PendingRow/init(decoding:)`` does, but into blocks of memory the decoder
/// shares between rows instead of an allocation per row. A row keeps its
/// block alive, so a block is freed only when the last row in it is: use one
/// decoder for rows that are read and dropped together (a chunk), not for rows
/// kept for long. Rows too large to share a block well (over about 15 KB)
/// get one of their own.
///
/// A decoder is not thread-safe; the rows it returns are, like any `PendingRow`.
public final class PendingRowDecoder {
    /// The size of a shared block.
    public static let blockSize = 64 << 10

    /// The block being filled, retained by the decoder; unmanaged so that each
    /// row costs the one retain its `PendingRow` needs.
    private var block: Unmanaged<RowBlock>?
    private var blockBytes: UnsafeMutableRawPointer?
    private var used = 0
    private var bounds = BoundsScratch(allocatingCapacity: 256)
    private let scratch = ScannerScratch.allocate()

    public init() {}

    deinit {
        block?.release()
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
        let reserved = reservedRecordSize(encodedCount: bytes.count)
        guard reserved <= Self.blockSize / 4 else {
            return try decodeAlone(bytes)
        }
        if block == nil || Self.blockSize &- used < reserved {
            startBlock()
        }
        guard let block, let blockBytes else {
            preconditionFailure("PendingRowDecoder: no block after starting one")
        }
        // The bounds go through a local: passing a class's stored property
        // inout costs a dynamic exclusivity check per row.
        var bounds = self.bounds
        defer { self.bounds = bounds }
        let record = blockBytes + used
        let available = Self.blockSize &- used
        let decoded = try decodeRecord(
            base, count: bytes.count, at: record, available: available, scratch: scratch, bounds: &bounds)
        guard decoded.size <= available else {
            let moved = relocatedRecord(decoded, from: record, bounds: bounds)
            return PendingRow(block: moved.block, record: moved.record)
        }
        // The next record starts 8-byte aligned, as its header and bounds need 4.
        used &+= (decoded.size &+ 7) & ~7
        return PendingRow(block: block.takeUnretainedValue(), record: RowRecord(record))
    }

    /// Leaves the current block to the rows in it and starts a new one.
    @inline(never)
    private func startBlock() {
        let new = RowBlock.make(byteCount: Self.blockSize)
        block?.release()
        block = Unmanaged.passRetained(new)
        blockBytes = new.bytes
        used = 0
    }

    /// Decodes a row too large to share a block into one of its own.
    @inline(never)
    private func decodeAlone(_ bytes: UnsafeRawBufferPointer) throws(PendingDecodingError) -> PendingRow {
        guard let base = bytes.baseAddress, bytes.count <= maximumEncodedRowSize else {
            throw PendingDecodingError(.rowTooLarge, offset: maximumEncodedRowSize, columnIndex: nil)
        }
        var bounds = self.bounds
        defer { self.bounds = bounds }
        return try decodeInOwnBlock(base, count: bytes.count, scratch: scratch, bounds: &bounds)
    }
}
