#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Text parameters for one statement, kept as NUL-terminated bytes in one
/// reusable arena so that binding a row allocates nothing once warmed up.
///
/// A parameter is SQL NULL or the text form of a value. Text cannot hold a
/// NUL byte, so a value with one is rejected when the statement is sent.
public struct ParameterBuffer: Sendable {
    private var bytes: [UInt8] = []
    /// Start offset of each parameter in `bytes`, or -1 for NULL.
    private var offsets: [Int] = []
    private var containsNUL = false

    public init() {}

    public init(_ values: [String?]) {
        for value in values { append(value) }
    }

    public var count: Int { offsets.count }

    /// The parameters as text (nil for NULL), for tests and diagnostics.
    public var values: [String?] {
        offsets.enumerated().map { i, offset in
            guard offset >= 0 else { return nil }
            let end = i + 1 < offsets.count ? nextStart(after: i) : bytes.count
            return String(decoding: bytes[offset..<(end - 1)], as: UTF8.self)
        }
    }

    /// Where the next non-NULL parameter after `index` starts (or the end).
    private func nextStart(after index: Int) -> Int {
        offsets[(index + 1)...].first { $0 >= 0 } ?? bytes.count
    }

    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        containsNUL = false
    }

    /// Appends a parameter: `nil` is SQL NULL.
    public mutating func append(_ value: String?) {
        guard var text = value else {
            offsets.append(-1)
            return
        }
        text.withUTF8 { append(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Appends a parameter from raw text bytes: `nil` is SQL NULL.
    public mutating func append(bytes value: UnsafeRawBufferPointer?) {
        guard let value else {
            offsets.append(-1)
            return
        }
        offsets.append(bytes.count)
        if let base = value.baseAddress, memchr(base, 0, value.count) != nil { containsNUL = true }
        bytes.append(contentsOf: value)
        bytes.append(0)
    }

    /// Appends a parameter whose text `build` writes straight into the
    /// buffer (no intermediate copy, for large values).
    public mutating func append(building build: (inout [UInt8]) -> Void) {
        let start = bytes.count
        offsets.append(start)
        build(&bytes)
        let found = bytes.withUnsafeBytes { all in
            all.baseAddress.map { memchr($0 + start, 0, all.count - start) != nil } ?? false
        }
        if found { containsNUL = true }
        bytes.append(0)
    }

    /// Calls `body` with libpq's `paramValues` array (valid only inside `body`).
    func withValuePointers<R>(
        _ body: (UnsafePointer<UnsafePointer<CChar>?>?, Int32) throws(PostgresError) -> R
    ) throws(PostgresError) -> R {
        if containsNUL {
            throw PostgresError(kind: .invalidArgument, message: "a text parameter contains a NUL byte")
        }
        if offsets.isEmpty { return try body(nil, 0) }
        let count = Int32(offsets.count)
        let result: Result<R, PostgresError> = bytes.withUnsafeBufferPointer { arena in
            let base = arena.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
            var pointers = [UnsafePointer<CChar>?](repeating: nil, count: offsets.count)
            for (i, offset) in offsets.enumerated() where offset >= 0 {
                pointers[i] = base.map { $0 + offset }
            }
            return pointers.withUnsafeBufferPointer { list in
                do throws(PostgresError) {
                    return .success(try body(list.baseAddress, count))
                } catch {
                    return .failure(error)
                }
            }
        }
        return try result.get()
    }
}
