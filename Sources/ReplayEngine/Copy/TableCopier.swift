import LibPQ
import Logging

/// Pipes one table from the master to a slave: `COPY t (cols) TO STDOUT`
/// in the master's open transaction, straight into `COPY t (cols) FROM
/// STDIN` in the slave's, in pieces of about `pieceBytes`.
///
/// Columns go by name in the master's order, so the slave's column order
/// may differ. Both sessions must use the same output settings
/// (`SlaveSession.sessionSettings`), so each type's text reads back exactly.
/// After a failure or cancellation both transactions are failed: roll them back.
struct TableCopier {
    var pieceBytes = 256 * 1024

    /// Copies `target.table` into the (emptied) slave table; returns the rows copied.
    ///
    /// - Throws: `.cancelled` when `isCancelled` turns true (checked after
    ///   every piece), `.master` / `.slave` for a failing side; both name the table.
    func copy(_ target: SlaveTarget, from master: Connection, to slave: Connection,
              logger: Logger, isCancelled: () -> Bool) throws(ReplayError) -> (rows: Int, bytes: Int) {
        let table = target.table
        let columns = table.quotedColumns.joined(separator: ", ")
        let source = "COPY \(table.quotedName) (\(columns)) TO STDOUT"
        let sink = "COPY \(target.quotedName) (\(columns)) FROM STDIN"
        var progress = CopyProgress(table: table.captureName, estimatedRows: table.estimatedRows, logger: logger)
        do throws(PostgresError) {
            try master.beginCopyOut(source)
        } catch {
            throw ReplayError(.master, "cannot copy \(table.captureName) from the master: \(ReplayError.serverText(error))", postgres: error)
        }
        do throws(PostgresError) {
            try slave.beginCopy(sink)
        } catch {
            master.abandonCopyOut()
            throw ReplayError(.slave, "cannot copy \(table.captureName) into the slave's \(target.quotedName): \(ReplayError.serverText(error))",
                              postgres: error)
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(pieceBytes + 64 * 1024)
        var rows = 0
        var bytes = 0

        /// Sends `buffer` to the slave.
        func send() throws(ReplayError) {
            let sent = buffer.withUnsafeBytes { piece in
                Result { () throws(PostgresError) in try slave.putCopyData(piece) }
            }
            bytes += buffer.count
            buffer.removeAll(keepingCapacity: true)
            do throws(PostgresError) {
                try sent.get()
            } catch {
                master.abandonCopyOut()
                throw ReplayError(.slave, "the slave's connection broke while copying \(table.captureName): \(error.message)", postgres: error)
            }
        }

        while true {
            let more: Bool
            do throws(PostgresError) {
                more = try master.readCopyRow { row in buffer.append(contentsOf: row) }
            } catch {
                slave.abortCopy(reason: "the master failed")
                throw ReplayError(.master, "copying \(table.captureName) from the master failed: \(ReplayError.serverText(error))", postgres: error)
            }
            guard more else { break }
            rows += 1
            if buffer.count >= pieceBytes {
                try send()
                progress.update(rows: rows, bytes: bytes)
                if isCancelled() {
                    master.abandonCopyOut()
                    slave.abortCopy(reason: "dbmirror was interrupted")
                    throw ReplayError(.cancelled, "interrupted while copying \(table.captureName); the slave's transaction was rolled back")
                }
            }
        }
        try send()
        do throws(PostgresError) {
            let result = try slave.endCopy(statement: sink)
            if let stored = result.affectedRows, stored != rows {
                throw PostgresError(kind: .unexpectedResult, message: "the slave stored \(stored) rows of \(rows)")
            }
        } catch {
            var text = ReplayError.serverText(error)
            if let context = error.context { text += " (\(context))" }
            throw ReplayError(.slave, "the slave refused the copy of \(table.captureName) into \(target.quotedName): \(text)", postgres: error)
        }
        progress.update(rows: rows, bytes: bytes)
        progress.finish()
        return (rows, bytes)
    }
}
