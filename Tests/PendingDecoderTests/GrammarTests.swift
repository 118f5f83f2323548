import PendingDecoder
import Testing

/// Every rule of docs/FORMAT.md, with the bytes spelled out.
@Suite("Grammar")
struct GrammarTests {
    @Test("the empty string is the row with no columns")
    func emptyRow() throws {
        let row = try decodeAllWays([])
        #expect(row.count == 0)
        #expect(row.isEmpty)
        #expect(row.columns == [])
        #expect(row == PendingRow([]))
        #expect(PendingEncoder.encode([]) == "")
    }

    @Test("a pair is a quoted name, '=', a quoted value and one space")
    func singlePair() throws {
        let row = try decodeAllWays(bytes(#""id"='1' "#))
        #expect(row.count == 1)
        #expect(row.name(at: 0) == "id")
        #expect(row.value(at: 0) == "1")
        #expect(!row.isNull(at: 0))
        #expect(row.columns == [PendingColumn(name: "id", value: "1")])
    }

    @Test("columns come back in the order written")
    func order() throws {
        let row = try decodeAllWays(bytes(#""z"='26' "a"='1' "m"='13' "#))
        #expect(row.map(\.name) == ["z", "a", "m"])
        #expect(row.map(\.value) == ["26", "1", "13"])
    }

    @Test("nothing between '=' and the space is SQL NULL")
    func null() throws {
        let row = try decodeAllWays(bytes(#""id"='2' "note"= "#))
        #expect(row.isNull(at: 1))
        #expect(row.value(at: 1) == nil)
        row.withUnsafeValueBytes(at: 1) { value in #expect(value == nil) }
        #expect(row[1] == PendingColumn(name: "note", value: nil))
    }

    @Test("two quotes are the empty string, not NULL")
    func emptyString() throws {
        let row = try decodeAllWays(bytes(#""id"='3' "note"='' "#))
        #expect(!row.isNull(at: 1))
        #expect(row.value(at: 1) == "")
        row.withUnsafeValueBytes(at: 1) { value in
            #expect(value != nil)
            #expect(value?.count == 0)
        }
        #expect(row != (try decodeAllWays(bytes(#""id"='3' "note"= "#))))
    }

    @Test("a value of one space")
    func oneSpace() throws {
        let row = try decodeAllWays(bytes(#""c"=' ' "#))
        #expect(row.value(at: 0) == " ")
    }

    @Test("a doubled single quote in a value is one quote")
    func doubledSingleQuote() throws {
        let row = try decodeAllWays(bytes(#""id"='1' "name"='O''Brien' "#))
        #expect(row.value(at: 1) == "O'Brien")
        #expect(try decodeAllWays(bytes(#""q"='''' "#)).value(at: 0) == "'")
        #expect(try decodeAllWays(bytes(#""q"='''''' "#)).value(at: 0) == "''")
        #expect(try decodeAllWays(bytes(#""q"=''' ' "#)).value(at: 0) == "' ")
    }

    @Test("a doubled backslash in a value is one backslash")
    func doubledBackslash() throws {
        let row = try decodeAllWays(bytes(#""path"='C:\\tmp' "#))
        #expect(row.value(at: 0) == #"C:\tmp"#)
        #expect(try decodeAllWays(bytes(#""b"='\\\\' "#)).value(at: 0) == #"\\"#)
        #expect(try decodeAllWays(bytes(#""b"='\\''' "#)).value(at: 0) == #"\'"#)
    }

    @Test("a doubled double quote in a name is one quote")
    func doubledDoubleQuote() throws {
        let row = try decodeAllWays(bytes(#""a""b"='C:\\tmp' "#))
        #expect(row.name(at: 0) == #"a"b"#)
        #expect(row.value(at: 0) == #"C:\tmp"#)
        let sixQuotes = String(repeating: "\"", count: 6)
        #expect(try decodeAllWays(bytes(sixQuotes + "='x' ")).name(at: 0) == "\"\"")
        #expect(row.index(ofColumnNamed: #"a"b"#) == 0)
    }

    @Test("other bytes stand as they are", arguments: [
        "line\nbreak", "tab\there", "cr\rlf\n", "a=b", #"say "hi""#, "\"", "two  spaces ", " lead",
        "ünïcödé €100 中文 𝄞", "\u{1}\u{7F}", "'\"= \\", "é'", "\\中",
    ])
    func literalBytes(value: String) throws {
        let encoded = PendingEncoder.encodeBytes([PendingColumn(name: "c", value: value)])
        let row = try decodeAllWays(encoded)
        #expect(row.value(at: 0) == value)
    }

    @Test("names may hold spaces, '=', quotes, newlines and multibyte characters", arguments: [
        "with space", "a=b", "it's", #"back\slash"#, "new\nline", "名前", #"""#, " ", "=",
    ])
    func literalNameBytes(name: String) throws {
        let encoded = PendingEncoder.encodeBytes([PendingColumn(name: name, value: "v")])
        let row = try decodeAllWays(encoded)
        #expect(row.name(at: 0) == name)
        #expect(row.index(ofColumnNamed: name) == 0)
    }

    @Test("the examples of docs/FORMAT.md")
    func formatExamples() throws {
        let examples: [(String, [PendingColumn])] = [
            (#""id"='1' "name"='O''Brien' "#, [.init(name: "id", value: "1"), .init(name: "name", value: "O'Brien")]),
            (#""id"='2' "note"= "#, [.init(name: "id", value: "2"), .init(name: "note", value: nil)]),
            (#""id"='3' "note"='' "#, [.init(name: "id", value: "3"), .init(name: "note", value: "")]),
            (#""a""b"='C:\\tmp' "#, [.init(name: #"a"b"#, value: #"C:\tmp"#)]),
        ]
        for (encoding, columns) in examples {
            #expect(try decodeAllWays(bytes(encoding)).columns == columns)
            #expect(PendingEncoder.encode(columns) == encoding)
            #expect(PendingEncoder.encodeBytes(PendingRow(columns)) == bytes(encoding))
            #expect(try walkedColumns(bytes(encoding)) == columns)
        }
    }

    @Test("byte access gives the unescaped bytes without copying")
    func byteAccess() throws {
        let row = try decodeAllWays(bytes(#""a""b"='x''y\\z' "n"= "#))
        row.withUnsafeNameBytes(at: 0) { name in #expect(Array(name) == bytes(#"a"b"#)) }
        row.withUnsafeValueBytes(at: 0) { value in #expect(value.map(Array.init) == bytes(#"x'y\z"#)) }
        row.withUnsafeNameBytes(at: 1) { name in #expect(Array(name) == bytes("n")) }
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try row.withUnsafeValueBytes(at: 0) { (_) throws(Stop) in throw Stop() }
        }
    }

    @Test("columns are found by exact name")
    func lookup() throws {
        let row = try decodeAllWays(bytes(#""id"='1' "Id"='2' "idx"= "#))
        #expect(row.index(ofColumnNamed: "id") == 0)
        #expect(row.index(ofColumnNamed: "Id") == 1)
        #expect(row.index(ofColumnNamed: "idx") == 2)
        #expect(row.index(ofColumnNamed: "i") == nil)
        #expect(row.index(ofColumnNamed: "") == nil)
    }

    @Test("rows compare by column names alone, in order, whatever the values")
    func sameColumnNames() throws {
        let row = try decodeAllWays(bytes(#""id"='1' "v"='x' "n"= "#))
        #expect(row.hasSameColumnNames(as: row))
        #expect(row.hasSameColumnNames(as: try decodeAllWays(bytes(#""id"='22' "v"= "n"='long value' "#))))
        #expect(!row.hasSameColumnNames(as: try decodeAllWays(bytes(#""id"='1' "n"= "v"='x' "#))))
        #expect(!row.hasSameColumnNames(as: try decodeAllWays(bytes(#""id"='1' "v"='x' "#))))
        #expect(!row.hasSameColumnNames(as: try decodeAllWays(bytes(#""id"='1' "w"='x' "n"= "#))))
        #expect(!row.hasSameColumnNames(as: try decodeAllWays(bytes(#""id"='1' "vv"='x' "n"= "#))))
        // A name's bytes must not run into the value next to it.
        #expect(!row.hasSameColumnNames(as: try decodeAllWays(bytes(#""idv"='' "v"='x' "n"= "#))))
        let empty = try decodeAllWays([])
        #expect(empty.hasSameColumnNames(as: try decodeAllWays([])))
        #expect(!empty.hasSameColumnNames(as: row))
    }

    @Test("the walk gives raw views, escape flags and unescaped counts")
    func walkViews() throws {
        let input = bytes(#""a""b"='x''y\\z' "plain"='v' "n"= "e"='' "#)
        var seen: [(name: [UInt8], value: [UInt8]?, nameEscapes: Bool, valueEscapes: Bool, nameCount: Int, valueCount: Int)] = []
        let count = try input.withUnsafeBytes { raw in
            try PendingDecoder.forEachColumn(in: raw) { field in
                #expect(field.index == seen.count)
                seen.append((Array(field.rawName), field.rawValue.map(Array.init), field.nameHasEscapes,
                    field.valueHasEscapes, field.nameCount, field.valueCount))
            }
        }
        #expect(count == 4)
        #expect(seen.map(\.name) == [bytes(#"a""b"#), bytes("plain"), bytes("n"), bytes("e")])
        #expect(seen.map(\.value) == [bytes(#"x''y\\z"#), bytes("v"), nil, []])
        #expect(seen.map(\.nameEscapes) == [true, false, false, false])
        #expect(seen.map(\.valueEscapes) == [true, false, false, false])
        #expect(seen.map(\.nameCount) == [3, 5, 1, 1])
        #expect(seen.map(\.valueCount) == [5, 1, 0, 0])
        #expect(try walkedColumns(input) == (try decodeAllWays(input)).columns)
    }

    @Test("the walk unescapes into a caller's buffer and refuses one too small")
    func walkUnescapeInto() throws {
        let input = bytes(#""k"='it''s' "#)
        _ = try input.withUnsafeBytes { raw in
            try PendingDecoder.forEachColumn(in: raw) { field in
                var target = [UInt8](repeating: 0, count: 8)
                let written = target.withUnsafeMutableBytes { field.unescapeValue(into: $0) }
                #expect(written == 4)
                #expect(Array(target[0..<4]) == bytes("it's"))
                var small = [UInt8](repeating: 0, count: 3)
                #expect(small.withUnsafeMutableBytes { field.unescapeValue(into: $0) } == 0)
                #expect(field.value == "it's")
                #expect(field.name == "k")
            }
        }
    }

    @Test("an error from the walk's closure comes back as .body and stops the walk")
    func walkBodyError() {
        struct Enough: Error, Equatable {}
        let input = bytes(#""a"='1' "b"='2' "c"='3' "#)
        var calls = 0
        #expect(throws: PendingScanError<Enough>.body(Enough())) {
            try input.withUnsafeBytes { raw in
                try PendingDecoder.forEachColumn(in: raw) { (field) throws(Enough) in
                    calls += 1
                    if field.index == 1 {
                        throw Enough()
                    }
                }
            }
        }
        #expect(calls == 2)
    }

    @Test("rows built from columns equal decoded rows, and hash alike")
    func builtRows() throws {
        let columns = [PendingColumn(name: "id", value: "7"), PendingColumn(name: "n", value: nil), PendingColumn(name: "e", value: "")]
        let built = PendingRow(columns)
        let decoded = try decodeAllWays(PendingEncoder.encodeBytes(columns))
        #expect(built == decoded)
        #expect(built.hashValue == decoded.hashValue)
        #expect(Set([built, decoded]).count == 1)
        #expect(built != PendingRow(Array(columns.dropLast())))
        #expect(PendingRow([.init(name: "a", value: "")]) != PendingRow([.init(name: "a", value: nil)]))
        #expect(PendingRow([.init(name: "ab", value: "c")]) != PendingRow([.init(name: "a", value: "bc")]))
    }

    @Test("a quote, backslash, non-ASCII or NUL byte is found at any place in a field's first bytes")
    func specialByteAtEveryPlace() throws {
        // The search first looks at one word, then at 16 bytes at a time: put
        // the byte before, at and after both of those edges, with and without
        // more row behind it.
        for place in 0..<20 {
            let padding = String(repeating: "x", count: place)
            for special in ["'", "\\", "\"", "é", "😀", "="] {
                for tail in [[PendingColumn](), [PendingColumn(name: "z", value: "0123456789abcdef0123")]] {
                    let columns = [
                        PendingColumn(name: "n" + padding + special, value: padding + special + "v"),
                        PendingColumn(name: padding + special, value: nil),
                    ] + tail
                    #expect(try decodeAllWays(PendingEncoder.encodeBytes(columns)).columns == columns)
                }
            }
            let nul = bytes(#""a"='"#) + Array(padding.utf8) + [0] + bytes("' ")
            #expect(decodingError(nul) == PendingDecodingError(.nulByte, offset: 5 + place, columnIndex: 0))
            let lone = bytes(#""a"='"#) + Array(padding.utf8) + bytes(#"\x' "#)
            #expect(decodingError(lone) == PendingDecodingError(.loneBackslash, offset: 5 + place, columnIndex: 0))
        }
    }
}
