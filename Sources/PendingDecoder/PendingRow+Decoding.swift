// Building a PendingRow from its encoding, in one exact allocation.
//
// Pass 1 validates the row with the scanner, adding up the unescaped size and
// recording where each of the first `recordedPairs` pairs ends (in stack
// memory). Pass 2 allocates the storage and copies the pairs from the records:
// a plain copy for fields without escapes, an unescaping copy for the others.
// A row with more pairs than that is walked a second time instead.

/// Per pair: the name's closing quote and the end of the pair, with a flag bit
/// each for "name has escapes" and "value has escapes".
private struct PairRecord {
    static let escapedFlag: UInt32 = 0x8000_0000
    var nameEnd: UInt32
    var pairEnd: UInt32
}

/// Pairs recorded in pass 1: 128 × 8 bytes stays within a 1 KiB stack allocation.
private let recordedPairs = 128

extension PendingRow {
    /// Decodes one encoded row (docs/FORMAT.md).
    ///
    /// - Throws: ``PendingDecodingError`` for any malformed input, with the byte
    ///   offset and column; a row is either decoded whole or not at all.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(PendingDecodingError) {
        guard !bytes.isEmpty, let base = bytes.baseAddress else {
            self.init(storage: .empty)
            return
        }
        guard bytes.count <= RowScanner.maximumRowSize else {
            throw PendingDecodingError(.rowTooLarge, offset: RowScanner.maximumRowSize, columnIndex: nil)
        }
        let result = withUnsafeTemporaryAllocation(of: PairRecord.self, capacity: recordedPairs) { records in
            withRowScanner(over: base, count: bytes.count) { scanner -> Result<PendingRowStorage, PendingDecodingError> in
                var textCount = 0
                while true {
                    let next: PendingField?
                    do throws(PendingDecodingError) {
                        next = try scanner.next()
                    } catch {
                        return .failure(error)
                    }
                    guard let field = next else {
                        break
                    }
                    textCount &+= field.nameCount &+ field.valueCount
                    if field.index < recordedPairs {
                        records[field.index] = PairRecord(
                            nameEnd: UInt32(field.nameEndOffset)
                                | (field.nameHasEscapes ? PairRecord.escapedFlag : 0),
                            pairEnd: UInt32(field.pairEndOffset)
                                | (field.valueHasEscapes ? PairRecord.escapedFlag : 0))
                    }
                }
                let count = scanner.count
                let storage = PendingRowStorage.make(count: count, textCount: textCount)
                if count <= recordedPairs {
                    storage.withRawParts { bounds, text in
                        copyRecordedPairs(from: base, UnsafeBufferPointer(rebasing: records[0..<count]), bounds, text)
                    }
                } else {
                    storage.withParts { bounds, text in
                        copyByWalking(bytes, bounds, text)
                    }
                }
                return .success(storage)
            }
        }
        self.init(storage: try result.get())
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

/// Pass 2 from the records of a validated row.
private func copyRecordedPairs(
    from base: UnsafeRawPointer, _ records: UnsafeBufferPointer<PairRecord>,
    _ bounds: UnsafeMutablePointer<UInt32>, _ destination: UnsafeMutableRawPointer
) {
    let mask = ~PairRecord.escapedFlag
    var written = 0
    var pairStart = 0
    for index in 0..<records.count {
        let record = records[index]
        let nameEnd = Int(record.nameEnd & mask)
        let pairEnd = Int(record.pairEnd & mask)
        let nameStart = pairStart + 1
        if record.nameEnd & PairRecord.escapedFlag != 0 {
            written += unescapeDoubled(
                base + nameStart, count: nameEnd - nameStart, into: destination + written,
                Byte.doubleQuote, Byte.doubleQuote)
        } else {
            copyBytes(destination + written, base + nameStart, nameEnd - nameStart)
            written += nameEnd - nameStart
        }
        bounds[2 * index] = UInt32(written)
        if pairEnd - nameEnd == 3 {
            // `"= `: NULL.
            bounds[2 * index + 1] = UInt32(written) | PendingRowStorage.nullFlag
        } else {
            let valueStart = nameEnd + 3
            let valueEnd = pairEnd - 2
            if record.pairEnd & PairRecord.escapedFlag != 0 {
                written += unescapeDoubled(
                    base + valueStart, count: valueEnd - valueStart, into: destination + written,
                    Byte.singleQuote, Byte.backslash)
            } else {
                copyBytes(destination + written, base + valueStart, valueEnd - valueStart)
                written += valueEnd - valueStart
            }
            bounds[2 * index + 1] = UInt32(written)
        }
        pairStart = pairEnd
    }
}

/// Pass 2 for a row too wide for the records: walk it again, copying each field.
private func copyByWalking(
    _ bytes: UnsafeRawBufferPointer, _ bounds: UnsafeMutableBufferPointer<UInt32>,
    _ text: UnsafeMutableRawBufferPointer
) {
    var written = 0
    // The row was validated by pass 1, so this walk cannot fail.
    _ = PendingDecoder.walk(bytes) { field in
        written += field.unescapeName(into: UnsafeMutableRawBufferPointer(rebasing: text[written...]))
        bounds[2 * field.index] = UInt32(written)
        if field.isNull {
            bounds[2 * field.index + 1] = UInt32(written) | PendingRowStorage.nullFlag
        } else {
            written += field.unescapeValue(into: UnsafeMutableRawBufferPointer(rebasing: text[written...]))
            bounds[2 * field.index + 1] = UInt32(written)
        }
        return true
    }
}
