/// Exponential back-off between retries of a failed host: 1 s, 2 s, 4 s, …
/// up to a ceiling, back to the start after a success.
struct Backoff: Sendable {
    let initial: Duration
    let maximum: Duration
    private(set) var next: Duration

    init(initial: Duration = .seconds(1), maximum: Duration = .seconds(60)) {
        self.initial = initial
        self.maximum = maximum
        self.next = initial
    }

    /// The delay to wait now; the one after it doubles, up to `maximum`.
    mutating func take() -> Duration {
        let delay = next
        next = min(next * 2, maximum)
        return delay
    }

    mutating func reset() {
        next = initial
    }
}
