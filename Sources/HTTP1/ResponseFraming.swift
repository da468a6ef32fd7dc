import TollgateCore

/// How an upstream's response is framed for the client. Re-framing only removes or adds the final
/// `chunked`: other transfer codings (`gzip, chunked`) reach the client as they were applied (RFC 9112
/// §6.1). Statuses that never have content (1xx, 204, 304) carry no framing fields at all (RFC 9110
/// §8.6, RFC 9112 §6.3 rule 1), and an HTTP/1.0 client is never sent `Transfer-Encoding` (RFC 9112 §6.1).
public enum ResponseFraming {
    public struct Plan: Sendable, Equatable {
        /// The upstream's fields without hop-by-hop fields, with the client's framing fields.
        public var headers: HTTPHeaders
        /// The body goes to the client chunked.
        public var chunked: Bool
        /// The body ends when the connection closes (an HTTP/1.0 client and no known length).
        public var delimitedByClose: Bool

        public init(headers: HTTPHeaders, chunked: Bool, delimitedByClose: Bool) {
            self.headers = headers
            self.chunked = chunked
            self.delimitedByClose = delimitedByClose
        }
    }

    /// - Throws: `HTTPParseError` with status 502 when the response cannot be passed on faithfully.
    public static func plan(_ response: ResponseHead, requestMethod: String, clientVersion: HTTPVersion) throws -> Plan
    {
        var headers = response.headers
        let codings = headers.tokens("transfer-encoding")
        // Validated by the response decoder except where no body follows; an unusable length is then dropped.
        let length = try? HeadParser.contentLength(headers)
        HopByHop.strip(&headers)
        headers.remove("content-length")
        if (100..<200).contains(response.status) || response.status == 204 || response.status == 304 {
            return Plan(headers: headers, chunked: false, delimitedByClose: false)
        }
        if requestMethod == "HEAD" {
            // The length a GET would have is useful to the client; a transfer coding is not.
            if codings.isEmpty, let length { headers.add("content-length", String(length)) }
            return Plan(headers: headers, chunked: false, delimitedByClose: false)
        }
        var applied = codings
        if applied.last == "chunked" { applied.removeLast() }
        guard codings.isEmpty, let length else {
            guard clientVersion != .http10 else {
                guard applied.isEmpty else {
                    throw HTTPParseError(
                        status: 502,
                        "transfer coding \(applied.joined(separator: ", ")) cannot be sent to an HTTP/1.0 client")
                }
                return Plan(headers: headers, chunked: false, delimitedByClose: true)
            }
            headers.add("transfer-encoding", (applied + ["chunked"]).joined(separator: ", "))
            return Plan(headers: headers, chunked: true, delimitedByClose: false)
        }
        headers.add("content-length", String(length))
        return Plan(headers: headers, chunked: false, delimitedByClose: false)
    }
}

/// What a server does with a request body it has not read when it answers before the request ended
/// (a 403, 404, redirect or direct response). Reading and dropping a small rest keeps the connection,
/// and the client's next request needs no new handshake; anything bigger, or a body the client waits to
/// send until it sees `100 Continue`, closes the connection (RFC 9110 §10.1.1, RFC 9112 §9.6).
public enum UnreadRequestBody {
    /// nginx discards up to a similar amount of an unread body before giving up on the connection.
    public static let drainLimit = 64 * 1024

    /// - Parameters:
    ///   - declaredLength: the request's `Content-Length`; nil for a chunked body.
    ///   - bytesRead: body bytes already read.
    ///   - awaitingContinue: the client sent `Expect: 100-continue` and was not told to continue.
    public static func mayDrain(
        declaredLength: UInt64?, bytesRead: Int, awaitingContinue: Bool, limit: Int = drainLimit
    ) -> Bool {
        if awaitingContinue { return false }
        guard let declaredLength else { return bytesRead <= limit }
        return declaredLength <= UInt64(limit)
    }
}
