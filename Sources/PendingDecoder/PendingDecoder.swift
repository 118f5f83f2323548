/// Reading encoded rows without building them: a walk over the columns that
/// allocates nothing for rows of up to 128 columns.
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
    @discardableResult
    public static func forEachColumn<E: Error>(
        in bytes: UnsafeRawBufferPointer, _ body: (PendingField) throws(E) -> Void
    ) throws(PendingScanError<E>) -> Int {
        try walk(bytes, body)
    }

    static func walk<E: Error>(
        _ bytes: UnsafeRawBufferPointer, _ body: (PendingField) throws(E) -> Void
    ) throws(PendingScanError<E>) -> Int {
        guard bytes.count <= RowScanner.maximumRowSize else {
            throw .decoding(PendingDecodingError(.rowTooLarge, offset: RowScanner.maximumRowSize, columnIndex: nil))
        }
        return try withRowScanner(over: bytes) { (scanner) throws(PendingScanError<E>) -> Int in
            while true {
                let field: PendingField?
                do throws(PendingDecodingError) {
                    field = try scanner.next()
                } catch {
                    throw .decoding(error)
                }
                guard let field else {
                    return scanner.count
                }
                do throws(E) {
                    try body(field)
                } catch {
                    throw .body(error)
                }
            }
        }
    }

    /// Calls `body` with each column of the encoded row in `bytes`; the form for a
    /// closure that cannot throw. See ``forEachColumn(in:_:)-(_,(PendingField)_throws(E)_->_)``.
    @discardableResult
    public static func forEachColumn(
        in bytes: UnsafeRawBufferPointer, _ body: (PendingField) -> Void
    ) throws(PendingDecodingError) -> Int {
        do throws(PendingScanError<Never>) {
            return try walk(bytes, body)
        } catch {
            switch error {
            case .decoding(let decodingError):
                throw decodingError
            }
        }
    }

    /// Checks that `bytes` is one well-formed encoded row and returns its column count.
    @discardableResult
    public static func validate(_ bytes: UnsafeRawBufferPointer) throws(PendingDecodingError) -> Int {
        try forEachColumn(in: bytes) { _ in }
    }
}
