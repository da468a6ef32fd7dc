/// The headers a gateway sets to tell the upstream who the client is, after removing any the
/// client sent itself (Envoy `SANITIZE_SET` for XFCC, `use_remote_address` for XFF).
public enum ForwardedHeaders {
    /// Headers only the gateway may set; a client's copies are dropped.
    public static let sanitized: [String] = [
        "x-forwarded-client-cert", "x-forwarded-proto", "x-envoy-external-address",
        "x-tollgate-principal",
    ]

    public struct Context: Sendable {
        public var peerAddress: String
        public var scheme: String
        /// This hop's XFCC element (`clientCertElement`), nil without a verified client certificate.
        public var clientCertElement: String?
        /// The exchange's id (`clientRequestID` or a generated one); it replaces whatever the client sent.
        public var requestID: String
        /// How many proxies in front of Tollgate are trusted to append to `x-forwarded-for`.
        public var trustedProxies: Int

        public init(
            peerAddress: String, scheme: String, clientCertElement: String?, requestID: String, trustedProxies: Int = 0
        ) {
            self.peerAddress = peerAddress
            self.scheme = scheme
            self.clientCertElement = clientCertElement
            self.requestID = requestID
            self.trustedProxies = trustedProxies
        }
    }

    private static let sanitizedSet = HeaderNameSet(sanitized)

    public static func apply(to headers: inout HTTPHeaders, _ context: Context) {
        headers.removeFields { name in
            sanitizedSet.contains(name) || name.hasPrefixIgnoringCase("x-envoy-")
        }
        // With no trusted proxy in front, whatever the client put in x-forwarded-for is not evidence of
        // anything; keep only the address we saw. Behind trusted proxies, append as they do.
        if context.trustedProxies > 0, let existing = headers.combined("x-forwarded-for") {
            headers.set("x-forwarded-for", "\(existing), \(context.peerAddress)")
        } else {
            headers.set("x-forwarded-for", context.peerAddress)
        }
        // The sanitized fields are gone already: added, not looked for.
        headers.add("x-forwarded-proto", context.scheme)
        headers.set("x-request-id", context.requestID)
        if let element = context.clientCertElement { headers.add("x-forwarded-client-cert", element) }
    }

    /// The client's `x-request-id` when it is sane: exactly one field, 1–128 characters of `A–Z a–z 0–9 . _ : -`
    /// (UUIDs, Envoy's ids, most tracing ids). Anything else (lists, spaces, quotes, very long values) is
    /// replaced by a generated id: the client's value would otherwise reach the upstream and the access log.
    public static func clientRequestID(_ headers: HTTPHeaders) -> String? {
        guard headers.count("x-request-id") == 1, let value = headers["x-request-id"], isSaneRequestID(value) else {
            return nil
        }
        return value
    }

    static func isSaneRequestID(_ value: String) -> Bool {
        (1...128).contains(value.utf8.count)
            && value.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                    || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: ":")
                    || b == UInt8(ascii: "-")
            }
    }

    /// One XFCC element: `By`, `Hash`, `Cert`, `Subject`, `URI`, `DNS`, in Envoy's order.
    public static func clientCertElement(_ identity: PeerIdentity, by gatewayURIs: [String] = []) -> String {
        var parts: [String] = gatewayURIs.map { "By=\(quoteIfNeeded($0))" }
        parts.append("Hash=\(identity.leafSHA256)")
        parts.append("Cert=\"\(urlEncode(identity.leafPEM))\"")
        parts.append("Subject=\"\(escapingControlBytes(identity.subject).replacingQuotes())\"")
        let uris = identity.uris
        if uris.isEmpty {
            parts.append("URI=")
        } else {
            parts += uris.map { "URI=\(quoteIfNeeded($0))" }
        }
        parts += identity.dnsNames.map { "DNS=\(quoteIfNeeded($0))" }
        // Built once per connection and kept while it is open: sized exactly, where `joined` leaves up to
        // twice the capacity it needs (about 1 KiB more per connection).
        var element = ""
        element.reserveCapacity(parts.reduce(parts.count) { $0 + $1.utf8.count })
        for (index, part) in parts.enumerated() {
            if index > 0 { element += ";" }
            element += part
        }
        return element
    }

    static func quoteIfNeeded(_ value: String) -> String {
        let value = escapingControlBytes(value)
        return value.contains(where: { $0 == "," || $0 == ";" || $0 == "=" || $0 == "\"" })
            ? "\"\(value.replacingQuotes())\"" : value
    }

    /// Certificate names are the CA's bytes, not ours: control bytes (CR and LF above all, which would
    /// end the header) and non-ASCII bytes are percent-encoded, and so is `%` then, so the value stays
    /// one unambiguous header value. Names without such bytes are passed as they are.
    public static func escapingControlBytes(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 < 0x20 || $0 >= 0x7F }) else { return value }
        let escaped = PercentEncoding.encode(value.utf8) { $0 < 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: "%") }
        return String(decoding: escaped, as: UTF8.self)
    }

    /// Percent-encodes all but RFC 3986 unreserved characters, as Envoy encodes the PEM in `Cert`.
    public static func urlEncode(_ text: String) -> String {
        PercentEncoding.allButUnreserved(text)
    }
}

extension String {
    fileprivate func replacingQuotes() -> String {
        var out = ""
        for c in self { if c == "\"" { out += "\\\"" } else { out.append(c) } }
        return out
    }
}
