// libFuzzer entry over the decoder (built by scripts/fuzz together with
// Sources/PendingDecoder/*.swift into one module).
//
// Invariants checked on every input; a violation traps, which libFuzzer
// records as a crash with the input that caused it:
//   1. Decoding never crashes, never hangs, never reads outside the input (ASan).
//   2. PendingRow decoding and the walk agree: both succeed with the same
//      columns, or both fail with the same error (kind, offset, column).
//   3. A decoded row re-encodes to exactly the input (the encoding is canonical).
//   4. Encoding the decoded columns and decoding again gives an equal row.
//   5. An error's offset lies within the input (or at its end).
//   6. The plain reference decoder (Tests/PendingDecoderTests/ReferenceDecoder.swift)
//      gives the same pairs or the same error.
//   7. A PendingRowDecoder shared across inputs (so rows land at any point of
//      its blocks) gives the same row or the same error as PendingRow(decoding:).

/// Shared by every input of the run; libFuzzer calls the entry point on one thread.
nonisolated(unsafe) private let sharedDecoder = PendingRowDecoder()

@_cdecl("LLVMFuzzerTestOneInput")
public func decoderFuzzTest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data.map(UnsafeRawPointer.init), count: data == nil ? 0 : size)

    var rowResult: Result<PendingRow, PendingDecodingError>
    do {
        rowResult = .success(try PendingRow(decoding: input))
    } catch {
        rowResult = .failure(error)
    }

    var walked: [PendingColumn] = []
    var walkError: PendingDecodingError?
    do {
        try PendingDecoder.forEachColumn(in: input) { field in
            var name: [UInt8] = []
            field.appendUnescapedName(to: &name)
            precondition(name.count == field.nameCount, "walk: name count")
            var value: [UInt8]?
            if !field.isNull {
                var buffer: [UInt8] = []
                field.appendUnescapedValue(to: &buffer)
                precondition(buffer.count == field.valueCount, "walk: value count")
                value = buffer
            }
            walked.append(PendingColumn(
                name: String(decoding: name, as: UTF8.self),
                value: value.map { String(decoding: $0, as: UTF8.self) }))
        }
    } catch {
        walkError = error
    }

    do {
        let shared = try sharedDecoder.decode(input)
        precondition((try? rowResult.get()) == shared, "shared decoding gives another row")
    } catch {
        precondition(rowResult == .failure(error), "shared decoding reports another error")
    }

    let bytes = Array(input)
    precondition(
        ReferenceDecoder.optimized(bytes) == ReferenceDecoder.decode(bytes),
        "the decoder and the reference decoder disagree")

    switch rowResult {
    case .success(let row):
        precondition(walkError == nil, "walk failed where decoding succeeded")
        precondition(row.columns == walked, "walk and row disagree")
        let reencoded = PendingEncoder.encodeBytes(row)
        precondition(reencoded.elementsEqual(input), "decoded row does not re-encode to the input")
        let again = try? PendingRow(decoding: PendingEncoder.encodeBytes(row.columns))
        precondition(again == row, "encode(decode(x)) does not decode to the same row")
    case .failure(let error):
        precondition(walkError == error, "walk and row report different errors")
        precondition(error.offset >= 0 && error.offset <= input.count, "error offset outside the input")
        precondition(!error.description.isEmpty)
    }
    return 0
}
