/// The text form of a `text[]` value, to pass many rows' values of one
/// column as one parameter: `{"a","b\"c",NULL}`. Every element is quoted, so
/// no value (not even `NULL` or one with braces or commas) can be misread.
struct ArrayLiteral {
    private(set) var bytes: [UInt8] = []
    private var count = 0

    init() {}

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        count = 0
    }

    /// Appends one element; nil is SQL NULL.
    mutating func append(_ value: UnsafeRawBufferPointer?) {
        bytes.append(count == 0 ? UInt8(ascii: "{") : UInt8(ascii: ","))
        count += 1
        guard let value else {
            bytes.append(contentsOf: "NULL".utf8)
            return
        }
        bytes.append(UInt8(ascii: "\""))
        var start = value.startIndex
        for index in value.indices where value[index] == UInt8(ascii: "\"") || value[index] == UInt8(ascii: "\\") {
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: value[start..<index]))
            bytes.append(UInt8(ascii: "\\"))
            start = index
        }
        bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: value[start...]))
        bytes.append(UInt8(ascii: "\""))
    }

    /// Closes the literal (`{}` when empty) and calls `body` with its bytes.
    mutating func finish<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        bytes.append(contentsOf: count == 0 ? "{}".utf8 : "}".utf8)
        return bytes.withUnsafeBytes(body)
    }
}
