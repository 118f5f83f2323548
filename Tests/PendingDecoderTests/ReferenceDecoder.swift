// A deliberately plain decoder of docs/FORMAT.md, one byte at a time over an
// array, for differential testing of the optimized one: the property tests
// and the fuzzer (scripts/fuzz compiles this file too, with DECODER_FUZZ set)
// require both to agree on every input, errors included. UTF-8 is checked with
// the standard library's decoder, independently of the decoder's own tables.

#if !DECODER_FUZZ
import PendingDecoder
#endif

/// One decoded pair as raw bytes: the name, and the value or nil for NULL.
struct ReferencePair: Equatable {
    var name: [UInt8]
    var value: [UInt8]?
}

enum ReferenceDecoder {
    static func decode(_ input: [UInt8]) -> Result<[ReferencePair], PendingDecodingError> {
        let doubleQuote = UInt8(ascii: "\""), singleQuote = UInt8(ascii: "'"), backslash = UInt8(ascii: "\\")
        var pairs: [ReferencePair] = []
        var index = 0
        func failure(_ kind: PendingDecodingError.Kind, _ offset: Int) -> Result<[ReferencePair], PendingDecodingError> {
            .failure(PendingDecodingError(kind, offset: offset, columnIndex: pairs.count))
        }
        /// The length of the well-formed UTF-8 scalar starting at `offset`, if any.
        func scalarLength(at offset: Int) -> Int? {
            var iterator = input[offset...].makeIterator()
            var decoder = Unicode.UTF8()
            if case .scalarValue(let scalar) = decoder.decode(&iterator) {
                return UTF8.width(scalar)
            }
            return nil
        }

        while index < input.count {
            let pairStart = index
            guard input[index] == doubleQuote else {
                return failure(.expectedNameQuote, index)
            }
            index += 1
            var name: [UInt8] = []
            while true {
                guard index < input.count else {
                    return failure(.unterminatedName, pairStart)
                }
                let byte = input[index]
                if byte == doubleQuote {
                    if index + 1 < input.count, input[index + 1] == doubleQuote {
                        name.append(doubleQuote)
                        index += 2
                        continue
                    }
                    break
                }
                if byte == 0 {
                    return failure(.nulByte, index)
                }
                if byte >= 0x80 {
                    guard let length = scalarLength(at: index) else {
                        return failure(.invalidUTF8, index)
                    }
                    name += input[index..<(index + length)]
                    index += length
                    continue
                }
                name.append(byte)
                index += 1
            }
            if name.isEmpty {
                return failure(.emptyColumnName, pairStart)
            }
            index += 1
            guard index < input.count, input[index] == UInt8(ascii: "=") else {
                return failure(.missingEquals, index)
            }
            index += 1
            guard index < input.count else {
                return failure(.expectedValue, index)
            }
            var value: [UInt8]?
            if input[index] == UInt8(ascii: " ") {
                index += 1
            } else if input[index] == singleQuote {
                let opening = index
                index += 1
                var text: [UInt8] = []
                while true {
                    guard index < input.count else {
                        return failure(.unterminatedValue, opening)
                    }
                    let byte = input[index]
                    if byte == singleQuote || byte == backslash {
                        if index + 1 < input.count, input[index + 1] == byte {
                            text.append(byte)
                            index += 2
                            continue
                        }
                        if byte == backslash {
                            return failure(.loneBackslash, index)
                        }
                        break
                    }
                    if byte == 0 {
                        return failure(.nulByte, index)
                    }
                    if byte >= 0x80 {
                        guard let length = scalarLength(at: index) else {
                            return failure(.invalidUTF8, index)
                        }
                        text += input[index..<(index + length)]
                        index += length
                        continue
                    }
                    text.append(byte)
                    index += 1
                }
                let closing = index
                index += 1
                guard index < input.count else {
                    return failure(.missingSpaceAfterValue, index)
                }
                if input[index] != UInt8(ascii: " ") {
                    return input[index] == doubleQuote
                        ? failure(.missingSpaceAfterValue, index) : failure(.loneQuote, closing)
                }
                index += 1
                value = text
            } else {
                return failure(.expectedValue, index)
            }
            if pairs.contains(where: { $0.name == name }) {
                return failure(.duplicateColumn, pairStart)
            }
            pairs.append(ReferencePair(name: name, value: value))
        }
        return .success(pairs)
    }

    /// What the optimized decoder makes of `input`, in the reference's terms:
    /// `PendingRow(decoding:)`, or `decoder` when given.
    static func optimized(
        _ input: [UInt8], decoder: PendingRowDecoder? = nil
    ) -> Result<[ReferencePair], PendingDecodingError> {
        do {
            var row = PendingRow([])
            if let decoder {
                row = try input.withUnsafeBytes { raw in
                    Result { () throws(PendingDecodingError) -> PendingRow in try decoder.decode(raw) }
                }.get()
            } else {
                row = try PendingRow(decoding: input)
            }
            return .success(
                (0..<row.count).map { index in
                    ReferencePair(
                        name: row.withUnsafeNameBytes(at: index) { Array($0) },
                        value: row.withUnsafeValueBytes(at: index) { $0.map { Array($0) } })
                })
        } catch {
            return .failure(error)
        }
    }
}
