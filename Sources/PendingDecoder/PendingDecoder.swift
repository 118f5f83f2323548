/// Reading encoded rows without building them: a walk over the columns that
/// allocates nothing for rows of up to 64 columns.
public enum PendingDecoder {
    /// Calls `body` with each column of the encoded row in `bytes`, in order.
    ///
    /// Each column is checked completely (quoting, NUL, UTF-8, empty or repeated
    /// name) before `body` sees it. The row as a whole is only known to be valid
    /// when the walk returns: if it throws ``PendingScanError/decoding(_:)``, `body`
    /// may already have seen the columns before the problem, and anything built
    /// from them must be thrown away.
    ///
    /// - Parameters:
    ///   - bytes: One encoded row (docs/FORMAT.md). The views given to `body` point into it.
    ///   - body: Called once per column; its error stops the walk and is rethrown
    ///     as ``PendingScanError/body(_:)``.
    /// - Returns: The number of columns.
    @inlinable
    @discardableResult
    public static func forEachColumn<E: Error>(
        in bytes: UnsafeRawBufferPointer, _ body: (PendingField) throws(E) -> Void
    ) throws(PendingScanError<E>) -> Int {
        var failure: E?
        let outcome = walk(bytes) { field in
            do throws(E) {
                try body(field)
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure {
            throw .body(failure)
        }
        switch outcome {
        case .success(let count): return count
        case .failure(let error): throw .decoding(error)
        }
    }

    /// Calls `body` with each column of the encoded row in `bytes`; the form for a
    /// closure that cannot throw, which gets the decoding error as it is.
    @inlinable
    @discardableResult
    public static func forEachColumn(
        in bytes: UnsafeRawBufferPointer, _ body: (PendingField) -> Void
    ) throws(PendingDecodingError) -> Int {
        try walk(bytes) { field in
            body(field)
            return true
        }.get()
    }

    /// Checks that `bytes` is one well-formed encoded row and returns its column count.
    @discardableResult
    public static func validate(_ bytes: UnsafeRawBufferPointer) throws(PendingDecodingError) -> Int {
        try walk(bytes) { _ in true }.get()
    }

    /// The walk itself, not generic so that callers in other modules pay no generic
    /// dispatch: `visit` returns false to stop early. Returns the number of columns
    /// visited, or the error that ended the walk.
    @usableFromInline
    static func walk(
        _ bytes: UnsafeRawBufferPointer, _ visit: (PendingField) -> Bool
    ) -> Result<Int, PendingDecodingError> {
        guard bytes.count <= maximumEncodedRowSize else {
            return .failure(PendingDecodingError(.rowTooLarge, offset: maximumEncodedRowSize, columnIndex: nil))
        }
        guard let base = bytes.baseAddress else {
            return .success(0)
        }
        return withRowScanner(over: base, count: bytes.count, destination: DiscardedText()) { scanner in
            while true {
                let field: PendingField?
                do throws(PendingDecodingError) {
                    field = try scanner.next()
                } catch {
                    return .failure(error)
                }
                guard let field, visit(field) else {
                    return .success(scanner.count)
                }
            }
        }
    }
}
