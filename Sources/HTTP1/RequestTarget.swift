/// The request-target forms a gateway serves (RFC 9112 §3.2): origin-form, absolute-form and the
/// asterisk of `OPTIONS *`. Authority-form (CONNECT) is not served.
public enum RequestTarget: Sendable, Equatable {
    case origin(String)
    /// `http://authority/path?query`: the authority replaces `Host` (RFC 9112 §3.2.2), and is held to
    /// the same rules as a `Host` header, so nothing reaches routing, policy or the upstream that a
    /// `Host` header could not carry.
    case absolute(authority: String, originForm: String)
    case asterisk

    /// Parses a target of visible ASCII characters (the caller has checked that much).
    public static func parse(_ target: String, method: String) throws -> RequestTarget {
        if target.hasPrefix("/") { return .origin(target) }
        if target == "*" {
            guard method == "OPTIONS" else {
                throw HTTPParseError.bad("asterisk target with a method other than OPTIONS")
            }
            return .asterisk
        }
        // The scheme is case-insensitive (RFC 3986 §3.1).
        for scheme in ["http://", "https://"] where target.hasPrefixIgnoringASCIICase(scheme) {
            let rest = target.utf8.dropFirst(scheme.utf8.count)
            let end = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? rest.endIndex
            let authority = String(decoding: rest[..<end], as: UTF8.self)
            guard !authority.isEmpty, isValidAuthority(authority) else {
                throw HTTPParseError.bad("invalid authority in request target")
            }
            let path = String(decoding: rest[end...], as: UTF8.self)
            return .absolute(authority: authority, originForm: path.hasPrefix("/") ? path : "/" + path)
        }
        throw HTTPParseError.bad("unsupported request target form")
    }

    /// host [ ":" port ], as RFC 3986 reg-name / IPv4 / IP-literal; no userinfo, no path. Empty is valid
    /// (an HTTP/1.0 `Host:` with nothing in it).
    public static func isValidAuthority(_ value: String) -> Bool {
        value.utf8.allSatisfy { b in
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"),
                UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "~"):
                return true
            default:
                return false
            }
        }
    }
}
