import TollgateCore

/// Serializes heads and frames bodies for the wire.
public enum MessageEncoder {
    public static func encode(_ head: RequestHead) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + head.headers.count * 32)
        out.append(contentsOf: head.method.utf8)
        out.append(UInt8(ascii: " "))
        appendTarget(head.target, to: &out)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: head.version.description.utf8)
        appendFields(head.headers, to: &out)
        return out
    }

    public static func encode(_ head: ResponseHead) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + head.headers.count * 32)
        out.append(contentsOf: head.version.description.utf8)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: String(head.status).utf8)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: head.reason.utf8.filter { $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 })
        appendFields(head.headers, to: &out)
        return out
    }

    /// Whatever a value's origin (a client, an upstream, a certificate, the configuration), the encoder
    /// never writes a field that could end the line or the head early: a name that is not a token, or a
    /// value with CR, LF or NUL, is left out. Earlier layers reject such input; this is the last guard.
    static func isSafe(name: String, value: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(HeadParser.isTokenByte)
            && !value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
    }

    /// A request target is never allowed to carry a space, CR, LF or another control byte into the
    /// request line: such bytes are percent-encoded.
    private static func appendTarget(_ target: String, to out: inout [UInt8]) {
        guard target.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            out.append(contentsOf: target.utf8)
            return
        }
        out += PercentEncoding.encode(target.utf8) { $0 <= 0x20 || $0 == 0x7F }
    }

    private static func appendFields(_ headers: HTTPHeaders, to out: inout [UInt8]) {
        out.append(0x0D)
        out.append(0x0A)
        headers.forEachField { name, value in
            // The same rule as `isSafe`, on the stored bytes: an unsafe field is left out.
            guard !name.isEmpty, name.allSatisfy(HeadParser.isTokenByte),
                !value.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 })
            else { return }
            out.append(contentsOf: name)
            out.append(UInt8(ascii: ":"))
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: value)
            out.append(0x0D)
            out.append(0x0A)
        }
        out.append(0x0D)
        out.append(0x0A)
    }

    /// One chunk of a chunked body (RFC 9112 §7.1); empty payloads must not be sent this way.
    public static func chunk(_ payload: [UInt8]) -> [UInt8] {
        var out = Array(String(payload.count, radix: 16).utf8)
        out.append(contentsOf: [0x0D, 0x0A])
        out.append(contentsOf: payload)
        out.append(contentsOf: [0x0D, 0x0A])
        return out
    }

    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)
}

/// Hop-by-hop fields a proxy must not forward (RFC 9110 §7.6.1), plus those named in `Connection`.
public enum HopByHop {
    public static let fields: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]

    private static let fieldSet = HeaderNameSet(Array(fields))

    public static func strip(_ headers: inout HTTPHeaders) {
        // Runs on every request and response: compare in place rather than lower-casing each name.
        let named = headers.contains("connection") ? headers.tokens("connection") : []
        headers.removeFields { name in
            fieldSet.contains(name) || named.contains { name.equalsIgnoringCase($0) }
        }
    }

    /// Whether the sender of a message wants the connection kept open after it (RFC 9112 §9.3).
    public static func wantsKeepAlive(_ headers: HTTPHeaders, version: HTTPVersion) -> Bool {
        if headers.containsToken("connection", "close") { return false }
        if version == .http10 { return headers.containsToken("connection", "keep-alive") }
        return true
    }

    /// The `Connection` field of a response: `close` when the connection ends after it; `keep-alive` to an
    /// HTTP/1.0 client whose connection stays, since without it that client waits for the close (RFC 9112
    /// §9.3); nothing to an HTTP/1.1 client, for which staying open is the default.
    public static func connectionField(keepAlive: Bool, clientVersion: HTTPVersion) -> String? {
        if !keepAlive { return "close" }
        return clientVersion == .http10 ? "keep-alive" : nil
    }
}
