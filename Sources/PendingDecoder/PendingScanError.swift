/// The error of a walk over an encoded row: either the row is malformed, or
/// the caller's closure threw.
public enum PendingScanError<Failure: Error>: Error {
    /// The row is malformed; the closure may already have seen the columns before the problem.
    case decoding(PendingDecodingError)
    /// The caller's closure threw this error; the walk stopped there.
    case body(Failure)
}

extension PendingScanError: Sendable where Failure: Sendable {}
extension PendingScanError: Equatable where Failure: Equatable {}
extension PendingScanError: Hashable where Failure: Hashable {}

extension PendingScanError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .decoding(let error): String(describing: error)
        case .body(let error): String(describing: error)
        }
    }
}
