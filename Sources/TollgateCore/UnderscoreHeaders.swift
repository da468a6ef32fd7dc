/// Header names spelled with `_` where a protected header has `-` (`Transfer_Encoding`,
/// `x_forwarded_client_cert`). CGI, WSGI and many frameworks map `_` and `-` to the same name, so an
/// upstream would read such a field as the real one: framing it differently from the gateway (request
/// smuggling), or trusting an identity the gateway never set. They are dropped, as nginx drops header
/// names with underscores; other names with underscores pass (as in Envoy's default).
public enum UnderscoreHeaders {
    /// Framing, hop-by-hop and routing fields, and every field the gateway sets about the client.
    static let protected: Set<String> = [
        "content-length", "transfer-encoding", "host", "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "upgrade", "expect", "forwarded", "x-request-id", "proxy-authorization", "proxy-authenticate",
    ]
    static let protectedPrefixes = ["x-forwarded-", "x-envoy-", "x-tollgate-"]

    /// Whether `name` contains `_` and names a protected field once `_` is read as `-`.
    public static func isLookalike(_ name: String) -> Bool {
        guard name.utf8.contains(UInt8(ascii: "_")) else { return false }
        let normalized = String(
            decoding: name.utf8.map { b -> UInt8 in
                b == UInt8(ascii: "_") ? UInt8(ascii: "-") : (b >= 0x41 && b <= 0x5A ? b | 0x20 : b)
            }, as: UTF8.self)
        return protected.contains(normalized) || protectedPrefixes.contains { normalized.hasPrefix($0) }
    }

    /// Removes look-alike fields; returns their names (for a debug log).
    @discardableResult
    public static func remove(from headers: inout HTTPHeaders) -> [String] {
        var names: [String] = []
        headers.forEachField { name, _ in
            guard name.contains(UInt8(ascii: "_")) else { return }
            let text = String(decoding: name, as: UTF8.self)
            if isLookalike(text) { names.append(text) }
        }
        if !names.isEmpty { headers.removeFields { $0.contains(UInt8(ascii: "_")) && isLookalike($0.string) } }
        return names
    }
}
