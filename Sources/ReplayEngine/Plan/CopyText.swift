/// COPY's text format: columns separated by tabs, rows ended by newlines,
/// `\N` for NULL, and backslash, tab, newline and carriage return escaped.
enum CopyText {
    /// Appends one value (nil for NULL) to `buffer`.
    static func appendValue(_ value: UnsafeRawBufferPointer?, to buffer: inout [UInt8]) {
        guard let value else {
            buffer.append(UInt8(ascii: "\\"))
            buffer.append(UInt8(ascii: "N"))
            return
        }
        var start = value.startIndex
        for index in value.indices {
            // One comparison for nearly every byte: the four escaped ones
            // are a backslash and bytes below 14.
            let byte = value[index]
            guard byte < 14 || byte == UInt8(ascii: "\\") else { continue }
            let escaped: UInt8
            switch byte {
            case UInt8(ascii: "\\"): escaped = UInt8(ascii: "\\")
            case UInt8(ascii: "\t"): escaped = UInt8(ascii: "t")
            case UInt8(ascii: "\n"): escaped = UInt8(ascii: "n")
            case UInt8(ascii: "\r"): escaped = UInt8(ascii: "r")
            default: continue
            }
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: value[start..<index]))
            buffer.append(UInt8(ascii: "\\"))
            buffer.append(escaped)
            start = index + 1
        }
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: value[start...]))
    }

    static let columnSeparator = UInt8(ascii: "\t")
    static let rowEnd = UInt8(ascii: "\n")

    /// The 1-based data line a COPY error's CONTEXT names ("COPY t, line 17…").
    static func lineNumber(inContext context: String?) -> Int? {
        guard let context, let range = context.range(of: ", line ") else { return nil }
        let digits = context[range.upperBound...].prefix { $0.isNumber }
        return Int(digits)
    }
}
