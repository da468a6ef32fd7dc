/// Istio's `StringMatch`: exactly one of exact, prefix or regex (RE2 syntax, full-string match).
public enum StringMatch: Sendable, Equatable {
    case exact(String)
    case prefix(String)
    case regex(String)
    /// `{}` in header matches: the header must be present.
    case present

    public func matches(_ value: String, ignoreCase: Bool = false) -> Bool {
        switch self {
        case .exact(let e): return ignoreCase ? e.lowercased() == value.lowercased() : e == value
        case .prefix(let p): return ignoreCase ? value.lowercased().hasPrefix(p.lowercased()) : value.hasPrefix(p)
        case .regex(let pattern): return RegexCache.wholeMatch(pattern, value)
        case .present: return true
        }
    }
}

extension StringMatch {
    static func decode(_ value: YAMLValue, allowEmpty: Bool = false) throws -> StringMatch {
        let entries = try value.mapping()
        try value.checkKeys(["exact", "prefix", "regex"])
        guard entries.count <= 1 else { throw value.error("set exactly one of exact, prefix, regex") }
        guard let (key, v) = entries.first else {
            if allowEmpty { return .present }
            throw value.error("set one of exact, prefix, regex")
        }
        let text = try v.string()
        switch key {
        case "exact": return .exact(text)
        case "prefix": return .prefix(text)
        default:
            guard RegexCache.compile(text) != nil else { throw v.error("invalid regular expression '\(text)'") }
            return .regex(text)
        }
    }
}

/// Compiled regular expressions, shared by every matcher of the same pattern. Compiled once at load,
/// read-only afterwards from any thread.
enum RegexCache {
    nonisolated(unsafe) private static var compiled: [String: Regex<AnyRegexOutput>] = [:]
    private static let lock = PlainLock()

    static func compile(_ pattern: String) -> Regex<AnyRegexOutput>? {
        lock.withLock {
            if let r = compiled[pattern] { return r }
            guard let r = try? Regex(pattern) else { return nil }
            compiled[pattern] = r
            return r
        }
    }

    static func wholeMatch(_ pattern: String, _ value: String) -> Bool {
        guard let r = compile(pattern) else { return false }
        return (try? r.wholeMatch(in: value)) != nil
    }
}
