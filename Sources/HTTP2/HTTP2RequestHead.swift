import HTTP1
import TollgateCore

/// Turns the fields of one HTTP/2 request header block into the `RequestHead` the planner takes, so an
/// HTTP/2 stream is routed, authorized and rewritten exactly like an HTTP/1.1 request (RFC 9113 §8.3).
///
/// nghttp2 has already held the block to RFC 9113 §8.2–8.3 (lowercase names, valid characters, pseudo-header
/// order and presence, no connection-specific fields, `te` only `trailers`, one valid `content-length`); the
/// same rules are checked again here because the head is what everything after this trusts, and they cost
/// a pass over fields already in memory. What HTTP/1.1 checks on its request line and `Host` applies too.
///
/// An extended CONNECT (RFC 8441 §4: `:method CONNECT` with `:protocol`) becomes the HTTP/1.1 upgrade it stands
/// for — `GET` with `Connection: upgrade` and `Upgrade: <protocol>` — so it is planned like one (route, policy,
/// WebSocket checks). Those two fields are connection-specific and refused in any other HTTP/2 request, so on
/// an HTTP/2 head they can only mean this. A plain CONNECT (a TCP tunnel) is not served.
public enum HTTP2RequestHead {
    /// Fields that mean something only to one HTTP/1.1 connection (RFC 9113 §8.2.2).
    static let connectionSpecific: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
    ]

    public static func make(_ fields: [(name: String, value: String)], limits: HTTPLimits) throws(HTTPParseError)
        -> RequestHead
    {
        var method: String?
        var scheme: String?
        var authority: String?
        var path: String?
        var upgradeProtocol: String?
        var headers = HTTPHeaders()
        var cookies: [String] = []
        var regularCount = 0
        for (name, value) in fields {
            if name.hasPrefix(":") {
                guard regularCount == 0 else { throw .invalid("pseudo-header field after a regular field") }
                switch name {
                case ":method": method = try once(method, value, name)
                case ":scheme": scheme = try once(scheme, value, name)
                case ":authority": authority = try once(authority, value, name)
                case ":path": path = try once(path, value, name)
                case ":protocol": upgradeProtocol = try once(upgradeProtocol, value, name)
                default: throw .invalid("unsupported pseudo-header field \(name)")
                }
                continue
            }
            regularCount += 1
            guard !name.utf8.contains(where: { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) else {
                throw .invalid("uppercase header field name")
            }
            // HTTP/1.1's field rules (HeadParser), which nghttp2 checks only in part: a token name, and a value
            // without control characters other than HTAB, nor whitespace at either end (RFC 9113 §8.2.1).
            guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else { throw .invalid("invalid header name") }
            guard value.utf8.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                throw .invalid("control character in header value")
            }
            if let first = value.utf8.first, let last = value.utf8.last,
                first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09
            {
                throw .invalid("whitespace around a header value")
            }
            guard !connectionSpecific.contains(name) else { throw .invalid("connection-specific header field \(name)") }
            if name == "te" && value != "trailers" { throw .invalid("te other than trailers") }
            // Cookie crumbs are joined for an HTTP/1.1 upstream (RFC 9113 §8.2.3).
            if name == "cookie" {
                cookies.append(value)
            } else {
                headers.add(name, value)
            }
        }
        guard regularCount + (cookies.isEmpty ? 0 : 1) <= limits.maxHeaderCount else {
            throw HTTPParseError(status: 431, "more than \(limits.maxHeaderCount) header fields")
        }
        if !cookies.isEmpty { headers.add("cookie", cookies.joined(separator: "; ")) }
        guard var method, !method.isEmpty, method.utf8.allSatisfy(isTokenByte) else {
            throw .invalid("missing or invalid :method")
        }
        if let upgradeProtocol {
            guard method == "CONNECT" else { throw .invalid(":protocol on a method other than CONNECT") }
            // An upgrade token (RFC 9110 §7.8): one protocol, no list to smuggle a second one in.
            guard !upgradeProtocol.isEmpty, upgradeProtocol.utf8.allSatisfy(isTokenByte) else {
                throw .invalid("invalid :protocol")
            }
            method = "GET"
            headers.add("connection", "upgrade")
            headers.add("upgrade", upgradeProtocol)
        }
        guard method != "CONNECT" else { throw HTTPParseError(status: 501, "CONNECT is not served") }
        guard let scheme, scheme == "https" || scheme == "http" else { throw .invalid("missing or invalid :scheme") }
        guard let path, !path.isEmpty, path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalid("missing or invalid :path")
        }
        // Only origin-form and `OPTIONS *` (RFC 9113 §8.3.1): an absolute URI in :path is not a request target.
        guard path.hasPrefix("/") || (path == "*" && method == "OPTIONS") else { throw .invalid("invalid :path") }
        let hosts = headers.values("host")
        guard hosts.count <= 1 else { throw .invalid("more than one Host header") }
        // :authority is the Host of an HTTP/2 request; a Host field that says otherwise would let routing and
        // the upstream see different hosts, so it is refused rather than guessed at.
        if let authority, let host = hosts.first, host != authority {
            throw .invalid("Host header differs from :authority")
        }
        guard let host = authority ?? hosts.first, !host.isEmpty, RequestTarget.isValidAuthority(host) else {
            throw .invalid("missing or invalid :authority")
        }
        headers.set("host", host)
        let lengths = headers.values("content-length")
        if let first = lengths.first {
            guard lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.utf8.count <= 19,
                first.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
            else { throw .invalid("invalid Content-Length") }
            headers.set("content-length", first)
        }
        return RequestHead(method: method, target: path, version: .http2, headers: headers)
    }

    private static func once(_ current: String?, _ value: String, _ name: String) throws(HTTPParseError) -> String {
        guard current == nil else { throw .invalid("repeated \(name)") }
        return value
    }

    private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default: "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }
}

extension HTTPParseError {
    static func invalid(_ reason: String) -> HTTPParseError { HTTPParseError(status: 400, reason) }
}
