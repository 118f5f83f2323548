import PendingDecoder
import Testing

/// One malformed input and the error it must give.
struct Malformed: CustomTestStringConvertible, Sendable {
    var input: [UInt8]
    var kind: PendingDecodingError.Kind
    var offset: Int
    var column: Int?

    init(_ text: String, _ kind: PendingDecodingError.Kind, at offset: Int, column: Int? = 0) {
        self.init(Array(text.utf8), kind, at: offset, column: column)
    }

    init(_ input: [UInt8], _ kind: PendingDecodingError.Kind, at offset: Int, column: Int? = 0) {
        self.input = input
        self.kind = kind
        self.offset = offset
        self.column = column
    }

    var testDescription: String {
        "\(kind) at \(offset): \(String(decoding: input, as: UTF8.self).debugDescription)"
    }
}

@Suite("Errors")
struct ErrorTests {
    static let cases: [Malformed] = [
        // A name's opening quote has no partner.
        Malformed(#"""#, .unterminatedName, at: 0),
        Malformed(#""id"='1' "na"#, .unterminatedName, at: 9, column: 1),
        Malformed(#""a"""#, .unterminatedName, at: 0),
        Malformed(#""a""='x' "#, .unterminatedName, at: 0),
        // A value's opening quote has no partner.
        Malformed(#""id"='1"#, .unterminatedValue, at: 5),
        Malformed(#""a"='"#, .unterminatedValue, at: 4),
        Malformed(#""a"='x'' "#, .unterminatedValue, at: 4),
        Malformed(#""a"='1' "b"='x\\"#, .unterminatedValue, at: 12, column: 1),
        // No '=' after the name.
        Malformed(#""id""#, .missingEquals, at: 4),
        Malformed(#""id" ='1' "#, .missingEquals, at: 4),
        Malformed(#""id"x='1' "#, .missingEquals, at: 4),
        Malformed(#""a"='1' "b"'2' "#, .missingEquals, at: 11, column: 1),
        // Neither a value nor NULL after '='.
        Malformed(#""a"="#, .expectedValue, at: 4),
        Malformed(#""a"=1 "#, .expectedValue, at: 4),
        Malformed(#""a"="b" "#, .expectedValue, at: 4),
        Malformed(#""a"=='1' "#, .expectedValue, at: 4),
        // A stray byte where a pair should start.
        Malformed(#" "a"= "#, .expectedNameQuote, at: 0),
        Malformed(#""a"='1'  "b"= "#, .expectedNameQuote, at: 8, column: 1),
        Malformed(#""a"= x"#, .expectedNameQuote, at: 5, column: 1),
        Malformed(#""a"= "b"= ;"#, .expectedNameQuote, at: 10, column: 2),
        Malformed("'a'='1' ", .expectedNameQuote, at: 0),
        // The value's closing quote is not followed by a space.
        Malformed(#""a"='1'"#, .missingSpaceAfterValue, at: 7),
        Malformed(#""a"='1'"b"= "#, .missingSpaceAfterValue, at: 7),
        Malformed(#""a"=''"#, .missingSpaceAfterValue, at: 6),
        // A single quote inside a value that is not doubled.
        Malformed(#""a"='O'Brien' "#, .loneQuote, at: 6),
        Malformed(#""a"='1' "b"='x'y "#, .loneQuote, at: 14, column: 1),
        // A backslash inside a value that is not doubled.
        Malformed(#""a"='C:\tmp' "#, .loneBackslash, at: 7),
        Malformed(#""a"='x\' "#, .loneBackslash, at: 6),
        Malformed(#""a"='\\\' "#, .loneBackslash, at: 7),
        // An empty name.
        Malformed(#"""='x' "#, .emptyColumnName, at: 0),
        Malformed(#""a"= ""= "#, .emptyColumnName, at: 5, column: 1),
        // A repeated name.
        Malformed(#""a"='1' "b"= "a"='2' "#, .duplicateColumn, at: 13, column: 2),
        Malformed(#""a""b"= "a""b"='' "#, .duplicateColumn, at: 8, column: 1),
        // Not UTF-8: a stray continuation byte, a lone lead byte, an overlong form, a
        // surrogate, a scalar above U+10FFFF, a sequence cut by the closing quote.
        Malformed(bytes(#""a"='"#) + [0xFF] + bytes("' "), .invalidUTF8, at: 5),
        Malformed(bytes(#""a"='"#) + [0x80] + bytes("' "), .invalidUTF8, at: 5),
        Malformed(bytes(#"""#) + [0xC3] + bytes(#""= "#), .invalidUTF8, at: 1),
        Malformed(bytes(#""a"='x"#) + [0xC0, 0x80] + bytes("' "), .invalidUTF8, at: 6),
        Malformed(bytes(#""a"='"#) + [0xED, 0xA0, 0x80] + bytes("' "), .invalidUTF8, at: 5),
        Malformed(bytes(#""a"='"#) + [0xF4, 0x90, 0x80, 0x80] + bytes("' "), .invalidUTF8, at: 5),
        Malformed(bytes(#""a"='"#) + [0xE2, 0x82] + bytes("' "), .invalidUTF8, at: 5),
        Malformed(bytes(#""a"='"#) + [0xE2, 0x82], .invalidUTF8, at: 5),
        Malformed(bytes(#""a"='0123456789abcdef"#) + [0xE0, 0x9F, 0xBF] + bytes("' "), .invalidUTF8, at: 21),
        // A NUL byte in a value or a name.
        Malformed(bytes(#""a"='x"#) + [0] + bytes("y' "), .nulByte, at: 6),
        Malformed(bytes(#""a"#) + [0] + bytes(#""= "#), .nulByte, at: 2),
        Malformed(bytes(#""a"='0123456789abcdef0123"#) + [0] + bytes("' "), .nulByte, at: 25),
    ]

    @Test("each malformed input gives its kind, offset and column", arguments: cases)
    func malformed(_ example: Malformed) throws {
        let error = try #require(decodingError(example.input))
        #expect(error.kind == example.kind)
        #expect(error.offset == example.offset)
        #expect(error.columnIndex == example.column)
    }

    @Test("every kind but rowTooLarge has an example above")
    func coverage() {
        let covered = Set(Self.cases.map(\.kind))
        let all = Set(PendingDecodingError.Kind.allCases).subtracting([.rowTooLarge])
        #expect(all.subtracting(covered).isEmpty)
    }

    @Test("an input over the size limit is refused before a byte is read")
    func tooLarge() throws {
        let limit = Int(Int32.max)
        // The buffer claims more bytes than exist: the size check must come first.
        let oneByte = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
        defer { oneByte.deallocate() }
        let huge = UnsafeRawBufferPointer(start: oneByte, count: limit + 1)
        #expect(throws: PendingDecodingError(.rowTooLarge, offset: limit, columnIndex: nil)) {
            try PendingRow(decoding: huge)
        }
        #expect(throws: PendingDecodingError(.rowTooLarge, offset: limit, columnIndex: nil)) {
            try PendingDecoder.validate(huge)
        }
    }

    @Test("the description says what, where and which column, and never the data")
    func description() throws {
        let error = try #require(decodingError(bytes(#""id"='1' "secret"='TOPSECRET\x' "#)))
        #expect(error.kind == .loneBackslash)
        let text = error.description
        #expect(text.contains("backslash"))
        #expect(text.contains("byte 28"))
        #expect(text.contains("column #1"))
        #expect(!text.contains("TOPSECRET"))
        #expect(!text.contains("secret"))
        for kind in PendingDecodingError.Kind.allCases {
            let description = PendingDecodingError(kind, offset: 3, columnIndex: nil).description
            #expect(description.contains("byte 3"))
            #expect(!description.contains("column #"))
        }
    }

    @Test("every proper prefix of a row that does not end on a pair fails, never yields part of it")
    func truncation() throws {
        let columns = [
            PendingColumn(name: "id", value: "42"), PendingColumn(name: "n", value: nil),
            PendingColumn(name: #"we"ird"#, value: "it's C:\\ 中文"), PendingColumn(name: "e", value: ""),
        ]
        let full = PendingEncoder.encodeBytes(columns)
        var pairEnds: Set<Int> = [0]
        var length = 0
        for column in columns {
            length += PendingEncoder.encodeBytes([column]).count
            pairEnds.insert(length)
        }
        for cut in 0..<full.count {
            let prefix = Array(full[0..<cut])
            if pairEnds.contains(cut) {
                let row = try decodeAllWays(prefix)
                #expect(row.columns == Array(columns.prefix(row.count)))
            } else {
                #expect(decodingError(prefix) != nil, "prefix of \(cut) bytes decoded")
            }
        }
    }

    @Test("a walk over a malformed row throws .decoding after showing the complete pairs before it")
    func walkStopsAtError() {
        let input = bytes(#""a"='1' "b"='2' "c"='3 "#)
        var seen: [Int] = []
        let expected = PendingDecodingError(.unterminatedValue, offset: 20, columnIndex: 2)
        // A closure that cannot throw gets the non-generic walk and a plain PendingDecodingError.
        #expect(throws: expected) {
            try input.withUnsafeBytes { raw in
                try PendingDecoder.forEachColumn(in: raw) { (field: PendingField) in seen.append(field.index) }
            }
        }
        #expect(seen == [0, 1])
        struct Unused: Error, Equatable {}
        #expect(throws: PendingScanError<Unused>.decoding(expected)) {
            try input.withUnsafeBytes { raw in
                try PendingDecoder.forEachColumn(in: raw) { (_: PendingField) throws(Unused) in }
            }
        }
    }
}
