/// Quoting of SQL identifiers, done by us so it can be tested without a server.
enum SQLIdentifier {
    /// `name` as a quoted identifier: in double quotes, embedded quotes doubled.
    /// Always quoted, so case, spaces and keywords survive exactly.
    static func quote(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `schema.name`, both parts quoted.
    static func quote(schema: String, name: String) -> String {
        quote(schema) + "." + quote(name)
    }
}
