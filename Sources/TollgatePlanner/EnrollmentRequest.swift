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

    /// How many bytes of `target` a log keeps: up to and including the first `pathPrefix`; nil when it has
    /// none and is shown whole. On bytes, so the access log redacts without building a String per request.
    public static func redactedLength(_ target: UnsafeBufferPointer<UInt8>) -> Int? {
        ASCIIBytes.with(pathPrefix) { prefix in
            guard target.count >= prefix.count else { return nil }
            var start = 0
            while start <= target.count - prefix.count {
                var i = 0
                while i < prefix.count && target[start + i] == prefix[i] { i += 1 }
                if i == prefix.count { return start + i }
                start += 1
            }
            return nil
        }
    }

    static func isWellFormed(_ token: Substring) -> Bool {
        token.utf8.count == tokenLength
            && token.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D
                    || b == 0x5F
            }
    }
}
