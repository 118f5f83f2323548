import CLibPQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A NOTIFY received on a LISTENing connection.
public struct Notification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    public var senderPID: Int
}

extension Connection {
    /// Starts listening on `channel`.
    public func listen(channel: String) throws(PostgresError) {
        try executeScript("LISTEN \(try escapeIdentifier(channel))")
    }

    /// Waits up to `timeout` for notifications and returns those received
    /// (empty on timeout). Throws when the connection breaks.
    public func waitForNotifications(timeout: Duration) throws(PostgresError) -> [Notification] {
        var received = drainNotifications()
        if !received.isEmpty { return received }
        let (seconds, attoseconds) = timeout.components
        let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, max(0, milliseconds))
        if ready < 0 && errno != EINTR {
            throw PostgresError(kind: .connectionLost, message: "poll failed: \(String(cString: strerror(errno)))")
        }
        if ready > 0 {
            guard PQconsumeInput(pg) == 1 else { throw PostgresError(connection: pg, kind: .connectionLost) }
        }
        received = drainNotifications()
        if received.isEmpty && !isOpen {
            throw PostgresError(connection: pg, kind: .connectionLost)
        }
        return received
    }

    private func drainNotifications() -> [Notification] {
        var list: [Notification] = []
        while let raw = PQnotifies(pg) {
            let note = raw.pointee
            list.append(Notification(
                channel: String(cString: note.relname),
                payload: note.extra.map { String(cString: $0) } ?? "",
                senderPID: Int(note.be_pid)))
            PQfreemem(raw)
        }
        return list
    }
}
