/// One column of an encoded row as the walk finds it: views into the input, not copies.
///
/// The views are valid only inside the closure given to
/// ``PendingDecoder/forEachColumn(in:_:)``. They hold the bytes exactly as written
/// between the quotes; when `nameHasEscapes` or `valueHasEscapes` is true some quote
/// or backslash in them is doubled, and the `appendUnescaped…` and `unescape…`
/// helpers give the real bytes.
public struct PendingField {
    /// The 0-based position of the column in the row.
    public let index: Int
    /// The name's bytes as written between its double quotes (`""` for each `"`).
    public let rawName: UnsafeRawBufferPointer
    /// The value's bytes as written between its single quotes (`''` for each `'`,
    /// `\\` for each `\`), or nil for SQL `NULL`.
    public let rawValue: UnsafeRawBufferPointer?
    /// The length of the name once unescaped.
    public let nameCount: Int
    /// The length of the value once unescaped; 0 for `NULL`.
    public let valueCount: Int

    /// Whether the value is SQL `NULL` (as opposed to the empty string).
    public var isNull: Bool { rawValue == nil }
    /// Whether the raw name holds a doubled `"`, so it differs from the name.
    public var nameHasEscapes: Bool { nameCount != rawName.count }
    /// Whether the raw value holds a doubled `'` or `\`, so it differs from the value.
    public var valueHasEscapes: Bool { valueCount != (rawValue?.count ?? 0) }

    init(
        index: Int, rawName: UnsafeRawBufferPointer, rawValue: UnsafeRawBufferPointer?, nameCount: Int,
        valueCount: Int
    ) {
        self.index = index
        self.rawName = rawName
        self.rawValue = rawValue
        self.nameCount = nameCount
        self.valueCount = valueCount
    }

    /// Appends the unescaped value bytes to `buffer`; appends nothing for `NULL`.
    public func appendUnescapedValue(to buffer: inout [UInt8]) {
        guard let rawValue, valueCount > 0 else {
            return
        }
        appendUnescaped(rawValue, count: valueCount, to: &buffer) { target in
            unescapeValue(into: target)
        }
    }

    /// Appends the unescaped name bytes to `buffer`.
    public func appendUnescapedName(to buffer: inout [UInt8]) {
        appendUnescaped(rawName, count: nameCount, to: &buffer) { target in
            unescapeName(into: target)
        }
    }

    /// Writes the unescaped value into `target`, which must hold at least `valueCount`
    /// bytes, and returns the number written (`valueCount`; 0 for `NULL` or a target too small).
    @discardableResult
    public func unescapeValue(into target: UnsafeMutableRawBufferPointer) -> Int {
        guard let rawValue, let source = rawValue.baseAddress, let destination = target.baseAddress,
            target.count >= valueCount
        else {
            return 0
        }
        if valueCount == rawValue.count {
            copyBytes(destination, source, valueCount)
            return valueCount
        }
        return unescapeDoubled(
            source, count: rawValue.count, into: destination, Byte.singleQuote, Byte.backslash)
    }

    /// Writes the unescaped name into `target`, which must hold at least `nameCount`
    /// bytes, and returns the number written (0 if the target is too small).
    @discardableResult
    public func unescapeName(into target: UnsafeMutableRawBufferPointer) -> Int {
        guard let source = rawName.baseAddress, let destination = target.baseAddress,
            target.count >= nameCount
        else {
            return 0
        }
        if nameCount == rawName.count {
            copyBytes(destination, source, nameCount)
            return nameCount
        }
        return unescapeDoubled(
            source, count: rawName.count, into: destination, Byte.doubleQuote, Byte.doubleQuote)
    }

    /// The name as a `String` (allocates).
    public var name: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(nameCount)
        appendUnescapedName(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The value as a `String`, nil for `NULL` (allocates).
    public var value: String? {
        guard rawValue != nil else {
            return nil
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(valueCount)
        appendUnescapedValue(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

private func appendUnescaped(
    _ raw: UnsafeRawBufferPointer, count: Int, to buffer: inout [UInt8],
    _ unescape: (UnsafeMutableRawBufferPointer) -> Int
) {
    let oldCount = buffer.count
    buffer.append(contentsOf: repeatElement(0, count: count))
    buffer.withUnsafeMutableBytes { bytes in
        _ = unescape(UnsafeMutableRawBufferPointer(rebasing: bytes[oldCount...]))
    }
}

/// Copies `count` raw bytes from `source` to `destination`, writing each doubled
/// `first` or `second` once. The input must be validated (every occurrence doubled).
/// Returns the number of bytes written.
func unescapeDoubled(
    _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutableRawPointer,
    _ first: UInt8, _ second: UInt8
) -> Int {
    var read = 0
    var written = 0
    while read < count {
        let next = firstDelimiter(source, from: read, to: count, first, second)
        let run = next - read
        copyBytes(destination + written, source + read, run)
        written += run
        guard next < count else {
            break
        }
        destination.storeBytes(of: loadByte(source, next), toByteOffset: written, as: UInt8.self)
        written += 1
        read = next + 2
    }
    return written
}
