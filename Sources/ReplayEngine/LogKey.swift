import Logging

/// The metadata keys of every log message, in one place.
enum LogKey {
    static let host = "host"
    static let conninfo = "conninfo"
    static let xid = "xid"
    static let seqID = "seq_id"
    static let changes = "changes"
    static let snapshot = "snapshot"
    static let seconds = "seconds"
    static let error = "error"
}
