import TollgateCore

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
            isHopByHop(name) || named.contains { name.equalsIgnoringCase($0) }
        }
    }

    /// Whether `name` is hop-by-hop in itself (not counting the names a `Connection` field adds).
    public static func isHopByHop(_ name: FieldName) -> Bool { fieldSet.contains(name) }

    /// Whether a `Connection` field of `headers` names a field other than the hop-by-hop ones (`keep-alive`,
    /// the usual value, does not; `close` does, for a field called `Close`): when not, no field needs
    /// `isNamedInConnection`.
    public static func connectionNamesOtherFields(_ headers: HTTPHeaders) -> Bool {
        anyConnectionItem(headers) { !isHopByHop(FieldName(bytes: $0)) }
    }

    /// Whether a `Connection` field of `headers` names `name`, which makes that field hop-by-hop too.
    public static func isNamedInConnection(_ name: FieldName, _ headers: HTTPHeaders) -> Bool {
        anyConnectionItem(headers) { ASCIIBytes.equalsIgnoringCase($0, name.bytes) }
    }

    /// Whether an item of any `Connection` field of `headers` passes `test` (stops at the first that does).
    private static func anyConnectionItem(_ headers: HTTPHeaders, _ test: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool
    {
        var found = false
        headers.forEachValue("connection") { value in
            ASCIIBytes.forEachListItem(value) { item in
                found = test(item)
                return !found
            }
            return !found
        }
        return found
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
