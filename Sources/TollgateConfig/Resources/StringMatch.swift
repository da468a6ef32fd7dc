/// Istio's `StringMatch`: exactly one of exact, prefix or regex (RE2 syntax, full-string match).
public enum StringMatch: Sendable, Equatable {
    case exact(String)
    case prefix(String)
    case regex(CompiledRegex)
    /// `{}` in header matches: the header must be present.
    case present

    public func matches(_ value: String, ignoreCase: Bool = false) -> Bool {
        switch self {
        case .exact(let e): return ignoreCase ? e.lowercased() == value.lowercased() : e == value
        case .prefix(let p): return ignoreCase ? value.lowercased().hasPrefix(p.lowercased()) : value.hasPrefix(p)
        case .regex(let regex): return regex.wholeMatch(value)
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
            guard let regex = CompiledRegex(text) else { throw v.error("invalid regular expression '\(text)'") }
            return .regex(regex)
        }
    }
}

/// A regular expression compiled once, when the configuration loads; the request path only matches
/// with it. Immutable, so any loop may read it. Two are equal when their patterns are.
public struct CompiledRegex: @unchecked Sendable, Equatable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let pattern: String
    let regex: Regex<AnyRegexOutput>

    public init?(_ pattern: String) {
        guard let regex = try? Regex(pattern) else { return nil }
        self.pattern = pattern
        self.regex = regex
    }

    /// For patterns written in code: an invalid one is a programmer error.
    public init(stringLiteral pattern: String) {
        guard let compiled = CompiledRegex(pattern) else {
            preconditionFailure("invalid regular expression literal '\(pattern)'")
        }
        self = compiled
    }

    public func wholeMatch(_ value: String) -> Bool { (try? regex.wholeMatch(in: value)) != nil }

    public func matches(in value: String) -> [Regex<AnyRegexOutput>.Match] { value.matches(of: regex) }

    public var description: String { pattern }

    public static func == (a: CompiledRegex, b: CompiledRegex) -> Bool { a.pattern == b.pattern }
}
