import PendingDecoder
import PropertyBased
import Testing

/// Columns that exercise the format: escapes, NULL, empty values, multibyte text.
private let nameGenerator = Gen<Character?>.element(of: Array("abcXYZ_\"'= é中😀"))
    .map { $0 ?? "a" }.string(of: 1...10)
private let valueGenerator = zip(
    Gen.bool(0.2), Gen<Character?>.element(of: Array("0123456789abc '\\\"=é中😀\n")).map { $0 ?? "0" }.string(of: 0...60)
).map { isNull, text in isNull ? nil : text }

/// A row of up to `columns` distinct names.
private func rowGenerator(columns: ClosedRange<Int>) -> Generator<[PendingColumn], some Sequence & SendableMetatype> {
    zip(nameGenerator, valueGenerator)
        .map { name, value in PendingColumn(name: name, value: value) }
        .array(of: columns)
        .map { columns in
            var seen = Set<String>()
            return columns.filter { seen.insert($0.name).inserted }
        }
}

/// Decodes each of `rows` with one shared decoder.
private func decodeShared(_ rows: [[UInt8]], with decoder: PendingRowDecoder = PendingRowDecoder()) throws -> [PendingRow] {
    try rows.map { bytes in try decoder.decode(bytes) }
}

@Suite("Shared storage")
struct SharedDecodingTests {
    @Test("rows decoded together equal the same rows decoded alone")
    func sameAsAlone() async {
        await propertyCheck(count: 200, input: rowGenerator(columns: 0...12).array(of: 1...60)) { rows in
            let encoded = rows.map { PendingEncoder.encodeBytes($0) }
            do {
                let shared = try decodeShared(encoded)
                for (index, row) in shared.enumerated() {
                    let alone = try PendingRow(decoding: encoded[index])
                    #expect(row == alone)
                    #expect(row.hashValue == alone.hashValue)
                    #expect(row.columns == rows[index])
                    #expect(PendingEncoder.encodeBytes(row) == encoded[index])
                }
            } catch {
                Issue.record("encoded rows failed to decode: \(error)")
            }
        }
    }

    @Test("rows of one decoder are told apart: equality, hashing and names compare content")
    func distinctRows() throws {
        let decoder = PendingRowDecoder()
        let rows = try decodeShared(
            [bytes(#""a"='1' "#), bytes(#""a"='2' "#), bytes(#""b"='1' "#), bytes(#""a"='1' "#)], with: decoder)
        #expect(rows[0] != rows[1])
        #expect(rows[0] != rows[2])
        #expect(rows[0] == rows[3])
        #expect(rows[0].hashValue == rows[3].hashValue)
        #expect(rows[0].hasSameColumnNames(as: rows[1]))
        #expect(!rows[0].hasSameColumnNames(as: rows[2]))
        #expect(Set(rows).count == 3)
    }

    @Test("rows stay valid after their decoder and the other rows of their block are gone")
    func rowsOutliveTheDecoder() throws {
        let columns = (0..<500).map { index in
            [PendingColumn(name: "id", value: "\(index)"), PendingColumn(name: "note", value: "it's row \(index)")]
        }
        var kept: [PendingRow] = []
        do {
            let rows = try decodeShared(columns.map { PendingEncoder.encodeBytes($0) })
            kept = [rows[0], rows[250], rows[499]]
        }
        #expect(kept.map(\.columns) == [columns[0], columns[250], columns[499]])
    }

    @Test("rows filling many blocks, and rows too large to share one, decode intact")
    func blockBoundaries() throws {
        let decoder = PendingRowDecoder()
        var expected: [[PendingColumn]] = []
        var encoded: [[UInt8]] = []
        for index in 0..<3000 {
            // Every 500th row is larger than a quarter of a block and gets one of its own.
            let size = index % 500 == 0 ? PendingRowDecoder.blockSize : index % 97
            let columns = [
                PendingColumn(name: "id", value: "\(index)"),
                PendingColumn(name: "text", value: String(repeating: "x'", count: size / 2)),
            ]
            expected.append(columns)
            encoded.append(PendingEncoder.encodeBytes(columns))
        }
        let rows = try decodeShared(encoded, with: decoder)
        #expect(rows.map(\.columns) == expected)
    }

    @Test("a row whose index outgrows the space reserved for it is still decoded whole")
    func manyShortColumns() throws {
        // All-NULL one-letter columns: the index (8 bytes a column) outgrows the
        // encoding (5 bytes a column), past the room reserved for it.
        for width in [1, 10, 100, 300, 3000] {
            let columns = (0..<width).map { PendingColumn(name: "c\($0)", value: $0 % 7 == 0 ? "" : nil) }
            let encoded = PendingEncoder.encodeBytes(columns)
            let decoder = PendingRowDecoder()
            let rows = try decodeShared([encoded, encoded, encoded], with: decoder)
            for row in rows {
                #expect(row.columns == columns)
            }
            #expect(try decodeAllWays(encoded).columns == columns)
        }
    }

    @Test("a malformed row in the middle reports its own error and leaves the rows around it intact")
    func errorInTheMiddle() throws {
        let decoder = PendingRowDecoder()
        let before = try decodeShared([bytes(#""a"='1' "b"= "#), bytes(#""a"='2' "b"='x' "#)], with: decoder)
        let malformed = bytes(#""a"='3' "b"='it's' "#)
        #expect(throws: PendingDecodingError(.loneQuote, offset: 15, columnIndex: 1)) {
            try decoder.decode(malformed)
        }
        let after = try decodeShared([bytes(#""a"='4' "b"='y' "#)], with: decoder)
        #expect(before.map(\.columns) == [
            [PendingColumn(name: "a", value: "1"), PendingColumn(name: "b", value: nil)],
            [PendingColumn(name: "a", value: "2"), PendingColumn(name: "b", value: "x")],
        ])
        #expect(after[0].columns == [PendingColumn(name: "a", value: "4"), PendingColumn(name: "b", value: "y")])
    }

    @Test("mutated rows decode through one decoder exactly as the reference says, errors included")
    func differential() async {
        let input = zip(rowGenerator(columns: 1...8), Gen.int(in: 0...10_000), Gen<UInt8?>.element(of: PropertyTests.alphabet))
            .array(of: 1...20)
        await propertyCheck(count: 150, input: input) { cases in
            let decoder = PendingRowDecoder()
            for (columns, position, byte) in cases {
                var encoded = PendingEncoder.encodeBytes(columns)
                if !encoded.isEmpty, position % 2 == 0 {
                    encoded[position % encoded.count] = byte ?? 0
                }
                #expect(ReferenceDecoder.optimized(encoded, decoder: decoder) == ReferenceDecoder.decode(encoded))
            }
        }
    }

    @Test("the empty input is the empty row, and an oversized one is refused")
    func edges() throws {
        let decoder = PendingRowDecoder()
        #expect(try decoder.decode(UnsafeRawBufferPointer(start: nil, count: 0)) == PendingRow([]))
        let limit = Int(Int32.max)
        let oneByte = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
        defer { oneByte.deallocate() }
        #expect(throws: PendingDecodingError(.rowTooLarge, offset: limit, columnIndex: nil)) {
            try decoder.decode(UnsafeRawBufferPointer(start: oneByte, count: limit + 1))
        }
    }
}
