import CLibPQ

/// libpq connection strings: parsing, checking and printing without secrets.
public enum ConnInfo {
    /// The `key=value` pairs set in `conninfo` (a key=value string or a URI),
    /// in libpq's keyword order.
    public static func parse(_ conninfo: String) throws(PostgresError) -> [(key: String, value: String)] {
        var message: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &message) else {
            let text = PostgresError.trimmed(message) ?? "out of memory"
            if let message { PQfreemem(message) }
            throw PostgresError(kind: .invalidConninfo, message: text)
        }
        defer { PQconninfoFree(options) }
        var pairs: [(key: String, value: String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                pairs.append((String(cString: keyword), String(cString: value)))
            }
            option += 1
        }
        return pairs
    }

    /// True when `conninfo` sets a password.
    public static func containsPassword(_ conninfo: String) -> Bool {
        guard let pairs = try? parse(conninfo) else { return false }
        return pairs.contains { $0.key == "password" }
    }

    /// `conninfo` as `key=value` pairs without the password, for logs and
    /// status; "(invalid connection string)" when it does not parse.
    public static func redacted(_ conninfo: String) -> String {
        guard let pairs = try? parse(conninfo) else { return "(invalid connection string)" }
        return pairs.filter { $0.key != "password" }
            .map { "\($0.key)=\(quoted($0.value))" }
            .joined(separator: " ")
    }

    /// A value as libpq reads it in a key=value string.
    public static func quoted(_ value: String) -> String {
        let plain = !value.isEmpty && !value.contains { $0 == " " || $0 == "'" || $0 == "\\" || $0.isWhitespace }
        if plain { return value }
        var text = "'"
        for character in value {
            if character == "'" || character == "\\" { text.append("\\") }
            text.append(character)
        }
        return text + "'"
    }
}
