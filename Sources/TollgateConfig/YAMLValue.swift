import Yams

/// A YAML node with the file and key path it came from, so every error can say where it is.
/// Decoders read fields through it and call `checkKeys` to reject fields they do not know.
struct YAMLValue {
    let node: Node
    let file: String
    let path: String
    /// Line of the key this value belongs to; errors point there, where the user wrote the field.
    var keyLine: Int? = nil

    var line: Int? { keyLine ?? node.mark?.line }

    func error(_ message: String) -> Diagnostic {
        Diagnostic(.error, file: file, line: line, path: path, message)
    }

    func warning(_ message: String) -> Diagnostic {
        Diagnostic(.warning, file: file, line: line, path: path, message)
    }

    private func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    var isNull: Bool {
        if case .scalar(let s) = node {
            return s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string)
        }
        return false
    }

    /// The mapping's entries, or an error when this is not a mapping (null counts as empty).
    func mapping() throws -> [(key: String, value: YAMLValue)] {
        if isNull { return [] }
        guard case .mapping(let m) = node else { throw error("expected a mapping") }
        return try m.map { pair in
            guard case .scalar(let k) = pair.key else { throw error("mapping key must be a string") }
            return (k.string, YAMLValue(node: pair.value, file: file, path: child(k.string), keyLine: k.mark?.line))
        }
    }

    func field(_ key: String) throws -> YAMLValue? {
        try mapping().first { $0.key == key }?.value
    }

    func requiredField(_ key: String) throws -> YAMLValue {
        guard let v = try field(key), !v.isNull else { throw error("missing required field '\(key)'") }
        return v
    }

    /// Rejects keys this decoder does not handle, naming the first one with its line.
    func checkKeys(_ allowed: Set<String>) throws {
        for (key, value) in try mapping() where !allowed.contains(key) {
            throw value.error("unknown field")
        }
    }

    func array() throws -> [YAMLValue] {
        if isNull { return [] }
        guard case .sequence(let s) = node else { throw error("expected a list") }
        return s.enumerated().map { YAMLValue(node: $1, file: file, path: "\(path)[\($0)]") }
    }

    func string() throws -> String {
        guard case .scalar(let s) = node else { throw error("expected a string") }
        return s.string
    }

    func int() throws -> Int {
        guard case .scalar(let s) = node, let v = Int(s.string) else { throw error("expected an integer") }
        return v
    }

    func bool() throws -> Bool {
        guard case .scalar(let s) = node else { throw error("expected true or false") }
        switch s.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("expected true or false")
        }
    }

    func strings() throws -> [String] { try array().map { try $0.string() } }

    func stringMap() throws -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in try mapping() { out[k] = try v.string() }
        return out
    }

    func optionalString(_ key: String) throws -> String? {
        try field(key).flatMap { $0.isNull ? nil : try $0.string() }
    }
    func optionalInt(_ key: String) throws -> Int? { try field(key).flatMap { $0.isNull ? nil : try $0.int() } }
    func optionalBool(_ key: String) throws -> Bool? { try field(key).flatMap { $0.isNull ? nil : try $0.bool() } }
    func stringList(_ key: String) throws -> [String] { try field(key)?.strings() ?? [] }

    /// A string that must be one of `choices`.
    func enumeration(_ choices: [String]) throws -> String {
        let s = try string()
        guard choices.contains(s) else {
            throw error("unsupported value '\(s)' (expected one of: \(choices.joined(separator: ", ")))")
        }
        return s
    }
}
