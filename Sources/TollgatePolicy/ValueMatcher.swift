/// Istio's string match for policy values: `abc` exact, `abc*` prefix, `*abc` suffix, `*` any non-empty.
/// Only one leading or trailing `*` has meaning; there are no regular expressions.
struct ValueMatcher: Sendable, Equatable {
    enum Kind: Sendable, Equatable { case exact, prefix, suffix, presence }

    let kind: Kind
    let text: String
    let ignoreCase: Bool

    init(_ value: String, ignoreCase: Bool = false) {
        self.ignoreCase = ignoreCase
        let v = ignoreCase ? value.lowercased() : value
        if v == "*" {
            kind = .presence
            text = ""
        } else if v.hasSuffix("*") {
            kind = .prefix
            text = String(v.dropLast())
        } else if v.hasPrefix("*") {
            kind = .suffix
            text = String(v.dropFirst())
        } else {
            kind = .exact
            text = v
        }
    }

    func matches(_ candidate: String) -> Bool {
        let c = ignoreCase ? candidate.lowercased() : candidate
        switch kind {
        case .presence: return !c.isEmpty
        case .exact: return c == text
        case .prefix: return c.hasPrefix(text)
        case .suffix: return c.hasSuffix(text)
        }
    }
}

/// Matches a principal value the way Istio compiles it for Envoy: `v` is compared with
/// `spiffe://v` (exact, prefix or suffix), while a bare `*` accepts any identity at all.
struct PrincipalMatcher: Sendable, Equatable {
    let value: String

    func matches(_ identity: String) -> Bool {
        if value == "*" { return !identity.isEmpty }
        let spiffe = "spiffe://"
        if value.hasSuffix("*") { return identity.hasPrefix(spiffe + value.dropLast()) }
        if value.hasPrefix("*") { return identity.hasPrefix(spiffe) && identity.hasSuffix(value.dropFirst()) }
        return identity == spiffe + value
    }
}

/// Matches `namespaces` values: identity strings of the form `…/ns/<ns>/…`.
struct NamespaceMatcher: Sendable, Equatable {
    let value: ValueMatcher

    init(_ text: String) { value = ValueMatcher(text) }

    func matches(_ identity: String) -> Bool {
        var rest = Substring(identity)
        while let range = rest.range(of: "/ns/") {
            let after = rest[range.upperBound...]
            if let slash = after.firstIndex(of: "/") {
                let ns = String(after[..<slash])
                if value.kind == .presence ? true : value.matches(ns) { return true }
            }
            rest = after
        }
        return false
    }
}

/// `paths` values: exact/prefix/suffix/`*`, plus URI templates `{*}` (one segment) and `{**}` (the rest).
struct PathMatcher: Sendable, Equatable {
    let value: String
    private let plain: ValueMatcher?

    init(_ value: String) {
        self.value = value
        plain = value.contains("{*") ? nil : ValueMatcher(value)
    }

    func matches(_ path: String) -> Bool {
        if let plain { return plain.matches(path) }
        let pattern = value.split(separator: "/", omittingEmptySubsequences: false)
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var i = 0
        for (index, part) in pattern.enumerated() {
            if part == "{**}" { return index == pattern.count - 1 && i < segments.count }
            guard i < segments.count else { return false }
            if part == "{*}" {
                if segments[i].isEmpty { return false }
            } else if part != segments[i] {
                return false
            }
            i += 1
        }
        return i == segments.count
    }
}
