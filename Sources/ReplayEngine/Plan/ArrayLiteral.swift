/// The text form of a `text[]` value, to pass many rows' values of one
/// column as one parameter: `{"a","b\"c",NULL}`. Every element is quoted, so
/// no value (not even `NULL` or one with braces or commas) can be misread.
enum ArrayLiteral {
    /// Appends a literal to `buffer`; `elements` calls the function it is
    /// given once per element (nil for SQL NULL), in order.
    static func write(to buffer: inout [UInt8], _ elements: ((UnsafeRawBufferPointer?) -> Void) -> Void) {
        var count = 0
        buffer.append(UInt8(ascii: "{"))
        elements { value in
            if count > 0 { buffer.append(UInt8(ascii: ",")) }
            count += 1
            appendElement(value, to: &buffer)
        }
        buffer.append(UInt8(ascii: "}"))
    }

    /// The literal of `values`, as a string (for small lists).
    static func text(_ values: [String?]) -> String {
        var buffer: [UInt8] = []
        write(to: &buffer) { append in
            for value in values {
                if var value {
                    value.withUTF8 { append(UnsafeRawBufferPointer($0)) }
                } else {
                    append(nil)
                }
            }
        }
        return String(decoding: buffer, as: UTF8.self)
    }

    private static func appendElement(_ value: UnsafeRawBufferPointer?, to buffer: inout [UInt8]) {
        guard let value else {
            buffer.append(contentsOf: "NULL".utf8)
            return
        }
        buffer.append(UInt8(ascii: "\""))
        var start = value.startIndex
        for index in value.indices where value[index] == UInt8(ascii: "\"") || value[index] == UInt8(ascii: "\\") {
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: value[start..<index]))
            buffer.append(UInt8(ascii: "\\"))
            start = index
        }
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: value[start...]))
        buffer.append(UInt8(ascii: "\""))
    }
}
