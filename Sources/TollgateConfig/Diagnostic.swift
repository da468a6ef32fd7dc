/// A finding about configuration input: where it is (file, line, key path) and what is wrong.
/// Its description is the `file:line: severity: path: message` line users see.
public struct Diagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable {
        case error, warning, notice
    }

    public var severity: Severity
    public var file: String
    public var line: Int?
    public var path: String
    public var message: String

    public init(_ severity: Severity, file: String, line: Int?, path: String, _ message: String) {
        self.severity = severity
        self.file = file
        self.line = line
        self.path = path
        self.message = message
    }

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        let subject = path.isEmpty ? "" : "\(path): "
        return "\(location): \(severity.rawValue): \(subject)\(message)"
    }
}

/// Several diagnostics at once; thrown when a configuration cannot be used.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
