import TollgateCore

/// A request for a one-time enrollment link, as the planner recognised it: which token, which of the
/// link's resources, and the client address its attempts are counted against. A malformed link has
/// no token; it is answered and counted like a wrong one.
public struct EnrollmentRequest: Sendable, Equatable {
    public static let pathPrefix = "/.tollgate/enroll/"
    /// 32 random bytes, base64url without padding.
    public static let tokenLength = 43

    public enum Resource: String, Sendable, Equatable {
        /// The install instructions; reading them does not use the link up.
        case page = "page"
        /// The `.p12`: handing it out burns the token.
        case bundle = "bundle.p12"
        /// The CA certificate, for platforms that install it apart from the bundle.
        case caCertificate = "ca.crt"
    }

    public var token: String?
    public var resource: Resource?
    public var client: IPAddress?

    public init(token: String?, resource: Resource?, client: IPAddress?) {
        self.token = token
        self.resource = resource
        self.client = client
    }

    /// A request target or path as logs show it: whatever follows the prefix may be a live token, whether
    /// or not the request was served as a link (another method, another block's Host, dot segments).
    public static func redacted(_ target: String) -> String {
        guard let kept = ASCIIBytes.with(target, redactedLength) else { return target }
        return String(decoding: target.utf8.prefix(kept), as: UTF8.self) + "…"
    }

    /// How many bytes of `target` a log keeps: up to and including the first spelling of `pathPrefix`; nil
    /// when it has none and is shown whole. A spelling is read as a path normalizer or an upstream might:
    /// `%XX` decoded (`%2F` and `%5C` too, which Istio's normalization keeps encoded, so such a target is
    /// routed rather than served as a link, and its token stays live), `\` as `/`, and anything (dot
    /// segments) between `/.tollgate` and `/enroll/`. On bytes, so the access log redacts without building a
    /// String per request.
    public static func redactedLength(_ target: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let namespace = spellingEnd(of: "/.tollgate", in: target, from: 0) else { return nil }
        return spellingEnd(of: "/enroll/", in: target, from: namespace)
    }

    /// The end of the first spelling of `needle` in `target` at or after `from`.
    private static func spellingEnd(of needle: StaticString, in target: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        let wanted = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        var start = from
        while start < target.count {
            var i = start
            var matched = 0
            while matched < wanted.count, let (byte, next) = decodedByte(target, at: i), byte == wanted[matched] {
                matched += 1
                i = next
            }
            if matched == wanted.count { return i }
            start += 1
        }
        return nil
    }

    /// The byte at `i` as a path reads it, and where the next one starts.
    private static func decodedByte(_ target: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt8, Int)? {
        guard i < target.count else { return nil }
        let byte = target[i]
        if byte == UInt8(ascii: "\\") { return (UInt8(ascii: "/"), i + 1) }
        guard byte == UInt8(ascii: "%"), i + 2 < target.count, let hi = Hex.value(target[i + 1]),
            let lo = Hex.value(target[i + 2])
        else { return (byte, i + 1) }
        let decoded = hi << 4 | lo
        return (decoded == UInt8(ascii: "\\") ? UInt8(ascii: "/") : decoded, i + 3)
    }

    static func isWellFormed(_ token: Substring) -> Bool {
        token.utf8.count == tokenLength
            && token.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D
                    || b == 0x5F
            }
    }
}
