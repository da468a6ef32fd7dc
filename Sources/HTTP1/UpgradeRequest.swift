import TollgateCore

/// What protocol a request asks to switch to (RFC 9110 §7.8), checked as RFC 6455 §4.2.1 requires of a
/// WebSocket opening handshake. An upgrade needs both `Connection: upgrade` and an `Upgrade` field;
/// one without the other is an ordinary request (the hop-by-hop `Upgrade` is then dropped).
public enum UpgradeRequest: Sendable, Equatable {
    case none
    case websocket
    /// Another protocol (`h2c`, …): Tollgate tunnels only WebSocket, as Istio's gateways do by default.
    case other(String)

    public static func classify(_ head: RequestHead) throws -> UpgradeRequest {
        let protocols = head.headers.tokens("upgrade")
        guard head.headers.tokens("connection").contains("upgrade"), !protocols.isEmpty else { return .none }
        guard protocols.contains("websocket") else { return .other(protocols.first ?? "") }
        // Over HTTP/2 the head is an extended CONNECT (RFC 8441, see HTTP2RequestHead): no key, since the
        // gateway makes the one its HTTP/1.1 upstream needs.
        guard head.version == .http11 || head.version == .http2 else {
            throw HTTPParseError("a WebSocket upgrade needs HTTP/1.1")
        }
        guard head.method == "GET" else { throw HTTPParseError("a WebSocket upgrade must be a GET") }
        if head.headers.contains("transfer-encoding") || (head.headers["content-length"].map { $0 != "0" } ?? false) {
            throw HTTPParseError("a WebSocket upgrade request has no body")
        }
        if head.version == .http11 {
            let keys = head.headers.values("sec-websocket-key")
            guard keys.count == 1, let key = Base64.decode(keys[0]), key.count == 16, !keys[0].contains(" ") else {
                throw HTTPParseError("Sec-WebSocket-Key must be one base64 value of 16 bytes")
            }
        }
        guard head.headers.values("sec-websocket-version") == ["13"] else {
            throw HTTPParseError(status: 426, "Sec-WebSocket-Version must be 13")
        }
        return .websocket
    }
}
