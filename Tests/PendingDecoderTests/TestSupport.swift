import PendingDecoder
import Testing

/// The UTF-8 bytes of a fixture written as text.
func bytes(_ text: String) -> [UInt8] {
    Array(text.utf8)
}

/// Decodes `input` four ways (raw buffer, array, string, shared storage) and
/// checks that they agree.
func decodeAllWays(_ input: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> PendingRow {
    let fromArray = try PendingRow(decoding: input)
    let fromBuffer = try input.withUnsafeBytes { raw in try PendingRow(decoding: raw) }
    #expect(fromArray == fromBuffer, sourceLocation: sourceLocation)
    let shared = try PendingRowDecoder().decode(input)
    #expect(fromArray == shared, sourceLocation: sourceLocation)
    #expect(fromArray.columns == shared.columns, sourceLocation: sourceLocation)
    if let text = String(validating: input, as: UTF8.self) {
        let fromString = try PendingRow(decoding: text)
        #expect(fromArray == fromString, sourceLocation: sourceLocation)
    }
    return fromArray
}

/// The error of decoding `input`, or nil if it decodes. Also checks that the walk
/// and the shared-storage decoder report the same error.
func decodingError(_ input: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> PendingDecodingError? {
    var rowError: PendingDecodingError?
    do {
        _ = try PendingRow(decoding: input)
    } catch {
        rowError = error
    }
    var sharedError: PendingDecodingError?
    do {
        _ = try PendingRowDecoder().decode(input)
    } catch {
        sharedError = error
    }
    #expect(rowError == sharedError, sourceLocation: sourceLocation)
    var walkError: PendingDecodingError?
    do {
        _ = try input.withUnsafeBytes { raw in try PendingDecoder.validate(raw) }
    } catch let error as PendingDecodingError {
        walkError = error
    } catch {
        Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
    }
    #expect(rowError == walkError, sourceLocation: sourceLocation)
    return rowError
}

/// The columns the walk reports, built from its raw views and unescaping helpers.
func walkedColumns(_ input: [UInt8]) throws -> [PendingColumn] {
    var columns: [PendingColumn] = []
    _ = try input.withUnsafeBytes { raw in
        try PendingDecoder.forEachColumn(in: raw) { field in
            var name: [UInt8] = []
            field.appendUnescapedName(to: &name)
            var value: [UInt8]?
            if !field.isNull {
                var buffer: [UInt8] = []
                field.appendUnescapedValue(to: &buffer)
                value = buffer
            }
            columns.append(
                PendingColumn(
                    name: String(decoding: name, as: UTF8.self),
                    value: value.map { String(decoding: $0, as: UTF8.self) }))
        }
    }
    return columns
}

extension PendingRowDecoder {
    /// Decodes one encoded row held in an array of bytes.
    func decode(_ bytes: [UInt8]) throws(PendingDecodingError) -> PendingRow {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(PendingDecodingError) -> PendingRow in try decode(raw) }
        }
        return try result.get()
    }
}
