import PendingDecoder
import PropertyBased
import Testing

/// Characters chosen to stress the format: its delimiters and escapes, whitespace,
/// control bytes, and one- to four-byte UTF-8.
private let awkwardCharacters: [Character] = [
    "'", "'", "\\", "\\", "\"", "\"", "=", " ", " ", "\n", "\t", "\r\n", "\u{1}", "\u{1F}", "\u{7F}",
    "é", "ß", "€", "中", "𝄞", "😀", "\u{301}", "\u{FEFF}", "\u{10FFFF}",
]

/// Any Unicode scalar but NUL (which PostgreSQL text cannot hold); surrogates become U+FFFD.
private let anyScalarCharacter = Gen<UInt32>.value(in: 1...0x10_FFFF).map { value in
    Character(Unicode.Scalar(value) ?? "\u{FFFD}")
}

private let characterGenerator = Gen<Character>.frequency(
    (weight: 3, gen: Gen.letterOrNumber),
    (weight: 3, gen: Gen<Character?>.element(of: awkwardCharacters).map { $0 ?? "'" }),
    (weight: 1, gen: anyScalarCharacter)
)

private let nameGenerator = characterGenerator.string(of: 1...12)
private let valueGenerator = zip(Gen.bool(0.15), characterGenerator.string(of: 0...40)).map { isNull, text in
    isNull ? nil : text
}

/// Rows of distinct names (a repeated generated name keeps its first occurrence).
private func rowGenerator(columns: ClosedRange<Int>) -> Generator<[PendingColumn], some Sequence & SendableMetatype> {
    zip(nameGenerator, valueGenerator)
        .map { name, value in PendingColumn(name: name, value: value) }
        .array(of: columns)
        .map { columns in
            var seen = Set<[UInt8]>()
            return columns.filter { seen.insert(Array($0.name.utf8)).inserted }
        }
}

@Suite("Round trips")
struct PropertyTests {
    @Test("decoding an encoded row gives back its columns, by every path")
    func roundTrip() async {
        await propertyCheck(count: 500, input: rowGenerator(columns: 0...12)) { columns in
            let encoded = PendingEncoder.encodeBytes(columns)
            do {
                let row = try decodeAllWays(encoded)
                #expect(row.columns == columns)
                #expect(row == PendingRow(columns))
                #expect(row.hashValue == PendingRow(columns).hashValue)
                #expect(PendingEncoder.encodeBytes(row) == encoded)
                #expect(try walkedColumns(encoded) == columns)
                for (index, column) in columns.enumerated() {
                    #expect(row.index(ofColumnNamed: column.name) == index)
                    #expect(row.isNull(at: index) == (column.value == nil))
                    row.withUnsafeValueBytes(at: index) { value in
                        #expect(value.map(Array.init) == column.value.map { Array($0.utf8) })
                    }
                }
            } catch {
                Issue.record("encoded row failed to decode: \(error)")
            }
        }
    }

    @Test("wide rows round-trip through the pairwise, table and heap duplicate checks")
    func wideRows() async {
        await propertyCheck(count: 40, input: rowGenerator(columns: 10...300)) { columns in
            let encoded = PendingEncoder.encodeBytes(columns)
            #expect((try? decodeAllWays(encoded))?.columns == columns)
        }
    }

    @Test("a repeated name is found whatever the width and position")
    func duplicates() async {
        let input = zip(Gen.int(in: 2...400), Gen.int(in: 0...1000), Gen.int(in: 0...1000))
        await propertyCheck(count: 200, input: input) { width, first, second in
            var columns = (0..<width).map { PendingColumn(name: "column_\($0)_x", value: "\($0)") }
            let original = first % width
            var copy = second % width
            if copy == original {
                copy = (copy + 1) % width
            }
            let (early, late) = (min(original, copy), max(original, copy))
            columns[late].name = columns[early].name
            let encoded = PendingEncoder.encodeBytes(columns)
            let offset = PendingEncoder.encodeBytes(Array(columns[0..<late])).count
            #expect(decodingError(encoded) == PendingDecodingError(.duplicateColumn, offset: offset, columnIndex: late))
        }
    }

    @Test("narrow rows of distinct short names pass the duplicate filter, and every repeat is caught")
    func filteredNames() throws {
        // Up to 16 names (the pairwise part of the check) over 64 filter bits.
        // With the present key and hash "c" shares a bit with "id", "i" with
        // "name", "ad" and "au" with "flag", "cl" with "amount", "cm" with
        // "created": both the skipped and the full comparison are taken.
        let names = ["id", "name", "amount", "created", "flag", "c", "i", "ad", "au", "cl", "cm", "x", "y", "z", "w", "v"]
        for count in 1...names.count {
            let columns = names.prefix(count).map { PendingColumn(name: $0, value: "v") }
            let encoded = PendingEncoder.encodeBytes(columns)
            #expect(try decodeAllWays(encoded).columns == columns)
            for repeated in 0..<count {
                let row = columns + [columns[repeated]]
                #expect(decodingError(PendingEncoder.encodeBytes(row)) == PendingDecodingError(
                    .duplicateColumn, offset: encoded.count, columnIndex: count))
            }
        }
    }

    @Test("names that differ only in the middle are told apart")
    func similarNames() throws {
        let columns = (0..<200).map { PendingColumn(name: "prefix_long_\($0)_suffix_long", value: nil) }
        #expect(try decodeAllWays(PendingEncoder.encodeBytes(columns)).columns == columns)
    }

    @Test("names alike in their first eight bytes or in length are told apart, also at the row's end")
    func namesAlikeAtTheStart() throws {
        let names = ["id", "id2", "i", "identifie", "identifier", "identifies", "abcdefgh", "abcdefg", "abcdefghi", #"a""b"#]
        for count in 1...names.count {
            // Last in the row, near its end: the duplicate filter's reads around the name must stay in the row.
            for value in [nil, "", "x"] {
                let columns = names.prefix(count).map { PendingColumn(name: $0, value: value) }
                let encoded = PendingEncoder.encodeBytes(columns)
                #expect(try decodeAllWays(encoded).columns == columns)
                let repeated = columns + [PendingColumn(name: names[count - 1], value: value)]
                #expect(decodingError(PendingEncoder.encodeBytes(repeated)) == PendingDecodingError(
                    .duplicateColumn, offset: encoded.count, columnIndex: count))
            }
        }
    }

    @Test("a changed byte either fails cleanly or gives a row that re-encodes to the same bytes")
    func mutations() async {
        let input = zip(rowGenerator(columns: 1...8), Gen.int(in: 0...10_000), Gen<UInt8>.value(in: 0...255))
        await propertyCheck(count: 1000, input: input) { columns, position, byte in
            var encoded = PendingEncoder.encodeBytes(columns)
            guard !encoded.isEmpty else {
                return
            }
            encoded[position % encoded.count] = byte
            let optimized = ReferenceDecoder.optimized(encoded)
            let reference = ReferenceDecoder.decode(encoded)
            #expect(optimized == reference)
            if let row = try? PendingRow(decoding: encoded) {
                #expect(PendingEncoder.encodeBytes(row) == encoded)
                #expect((try? walkedColumns(encoded)) == row.columns)
            } else {
                #expect(decodingError(encoded) != nil)
            }
        }
    }

    /// Bytes the format gives meaning to, and a few that break UTF-8.
    static let alphabet: [UInt8] = Array(#""'\= ab"#.utf8) + [0x00, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xFF, 0x80]

    @Test("random strings of the format's own bytes decode exactly as the plain reference decoder says")
    func differential() async {
        let input = Gen<UInt8?>.element(of: Self.alphabet).map { $0 ?? 0 }.array(of: 0...48)
        await propertyCheck(count: 3000, input: input) { bytes in
            #expect(ReferenceDecoder.optimized(bytes) == ReferenceDecoder.decode(bytes))
        }
    }

    @Test("long generated rows, cut and changed anywhere, decode as the reference says")
    func differentialLong() async {
        let input = zip(rowGenerator(columns: 1...80), Gen.int(in: 0...100_000), Gen<UInt8?>.element(of: Self.alphabet))
        await propertyCheck(count: 300, input: input) { columns, position, byte in
            var encoded = PendingEncoder.encodeBytes(columns)
            #expect(ReferenceDecoder.optimized(encoded) == ReferenceDecoder.decode(encoded))
            if !encoded.isEmpty {
                encoded[position % encoded.count] = byte ?? 0
                #expect(ReferenceDecoder.optimized(encoded) == ReferenceDecoder.decode(encoded))
                encoded.removeLast(position % encoded.count)
                #expect(ReferenceDecoder.optimized(encoded) == ReferenceDecoder.decode(encoded))
            }
        }
    }
}
