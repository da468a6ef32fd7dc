/// Host names and patterns as Istio writes them: `name`, `*.suffix`, `*`.
public enum HostName {
    static func validatePattern(_ host: String, at value: YAMLValue) throws {
        if host == "*" { return }
        var name = Substring(host)
        if name.hasPrefix("*.") { name = name.dropFirst(2) }
        guard !name.isEmpty, !name.contains("*"),
            name.utf8.allSatisfy({ b in
                (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39)
                    || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_")
                    || b == UInt8(ascii: ":") || b == UInt8(ascii: "[") || b == UInt8(ascii: "]")
            })
        else {
            throw value.error(
                "invalid host '\(host)' (a wildcard may only be the left-most label, as in *.example.com)")
        }
    }

    /// Whether `pattern` (`name`, `*.suffix` or `*`) covers the concrete lower-cased `host`.
    /// `*.example.com` covers `a.example.com` and `a.b.example.com`, never `example.com`.
    public static func matches(pattern: String, host: String) -> Bool {
        if pattern == "*" { return true }
        if pattern.hasPrefix("*.") {
            let suffix = pattern.dropFirst(1)  // ".example.com"
            return host.count > suffix.count && host.hasSuffix(suffix)
        }
        return pattern == host
    }

    /// Whether two patterns can both match some host (Istio's host intersection).
    public static func intersects(_ a: String, _ b: String) -> Bool {
        if a == "*" || b == "*" { return true }
        if a.hasPrefix("*.") && b.hasPrefix("*.") {
            return a.hasSuffix(b.dropFirst(1)) || b.hasSuffix(a.dropFirst(1))
        }
        if a.hasPrefix("*.") { return matches(pattern: a, host: b) }
        if b.hasPrefix("*.") { return matches(pattern: b, host: a) }
        return a == b
    }

    /// The host part of an authority, lower-cased, without port (IPv6 brackets kept).
    public static func stripPort(_ authority: String) -> String {
        // Per request: an ASCII authority (the usual one) is cut and lower-cased on its bytes, without the
        // Character-by-Character scans below, which decide the rest exactly as before.
        let bytes = authority.utf8
        if !bytes.contains(where: { $0 >= 0x80 }) {
            var end = bytes.endIndex
            if bytes.first == UInt8(ascii: "[") {
                if let close = bytes.firstIndex(of: UInt8(ascii: "]")) { end = bytes.index(after: close) }
            } else if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
                end = colon
            }
            let host = bytes[..<end]
            guard host.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else {
                return end == bytes.endIndex ? authority : String(authority[..<end])
            }
            return String(decoding: host.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
        }
        var host = Substring(authority)
        if host.hasPrefix("[") {
            if let close = host.firstIndex(of: "]") { host = host[...close] }
        } else if let colon = host.lastIndex(of: ":") {
            host = host[..<colon]
        }
        // Host names are ASCII: lower-case bytes without Unicode case mapping, and no copy when already lower.
        guard host.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A || $0 >= 0x80 }) else { return String(host) }
        guard !host.utf8.contains(where: { $0 >= 0x80 }) else { return host.lowercased() }
        return String(decoding: host.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
