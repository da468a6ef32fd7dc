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

    /// The framing decision alone: the one field the client's copy is framed with (`content-length` or
    /// `transfer-encoding`), if any, in place of the upstream's framing fields.
    public struct Framing: Sendable, Equatable {
        public var fieldName: String?
        public var fieldValue = ""
        public var chunked = false
        public var delimitedByClose = false
    }

    /// - Throws: `HTTPParseError` with status 502 when the response cannot be passed on faithfully.
    public static func plan(_ response: ResponseHead, requestMethod: String, clientVersion: HTTPVersion) throws -> Plan
    {
        let framing = try framing(response, requestMethod: requestMethod, clientVersion: clientVersion)
        var headers = response.headers
        HopByHop.strip(&headers)
        headers.remove("content-length")
        if let name = framing.fieldName { headers.add(name, framing.fieldValue) }
        return Plan(headers: headers, chunked: framing.chunked, delimitedByClose: framing.delimitedByClose)
    }

    /// - Throws: `HTTPParseError` with status 502 when the response cannot be passed on faithfully.
    public static func framing(_ response: ResponseHead, requestMethod: String, clientVersion: HTTPVersion) throws
        -> Framing
    {
        if (100..<200).contains(response.status) || response.status == 204 || response.status == 304 {
            return Framing()
        }
        let headers = response.headers
        // Validated by the response decoder except where no body follows; an unusable length is then dropped.
        let length = try? HeadParser.contentLength(headers)
        let codings = headers.contains("transfer-encoding") ? headers.tokens("transfer-encoding") : []
        if requestMethod == "HEAD" {
            // The length a GET would have is useful to the client; a transfer coding is not.
            guard codings.isEmpty, let length else { return Framing() }
            return Framing(fieldName: "content-length", fieldValue: String(length))
        }
        guard codings.isEmpty, let length else {
            var applied = codings
            if applied.last == "chunked" { applied.removeLast() }
            guard clientVersion != .http10 else {
                guard applied.isEmpty else {
                    throw HTTPParseError(
                        status: 502,
                        "transfer coding \(applied.joined(separator: ", ")) cannot be sent to an HTTP/1.0 client")
                }
                return Framing(delimitedByClose: true)
            }
            return Framing(
                fieldName: "transfer-encoding", fieldValue: (applied + ["chunked"]).joined(separator: ", "),
                chunked: true)
        }
        return Framing(fieldName: "content-length", fieldValue: String(length))
    }

    /// The client's response head encoded straight from the upstream's: its status line and fields without
    /// hop-by-hop and framing fields, `server` given the gateway's value at the upstream's first `server`,
    /// then the framing field, `server` and `date` when the upstream sent none, and `connection`. These are
    /// the bytes `plan`, then `set("server")`, `date` added when missing, `set("connection")` and
    /// `MessageEncoder.encode` give (a test compares them), without a second field list or copy of the
    /// upstream's fields: for the responses no VirtualService header operation edits.
    /// - Parameter spareCapacity: room left after the head, for a small body written next.
    public static func encodeForwarded(
        _ response: ResponseHead, framing: Framing, server: String, date: () -> String, connection: String?,
        spareCapacity: Int = 0
    ) -> [UInt8] {
        let headers = response.headers
        var out: [UInt8] = []
        out.reserveCapacity(headers.byteCount + headers.count * 4 + server.utf8.count + 128 + spareCapacity)
        let reason = response.reason.isEmpty ? HTTPStatus.reason(for: response.status) : response.reason
        MessageEncoder.appendStatusLine(status: response.status, reason: reason, to: &out)
        let connectionNames = HopByHop.connectionNamesOtherFields(headers)
        var sawServer = false
        var sawDate = false
        headers.forEachField { name, value in
            let field = FieldName(bytes: name)
            if HopByHop.isHopByHop(field) || field.equalsIgnoringCase("content-length") { return }
            if connectionNames && HopByHop.isNamedInConnection(field, headers) { return }
            if field.equalsIgnoringCase("server") {
                guard !sawServer else { return }
                sawServer = true
                ASCIIBytes.with(server) { MessageEncoder.appendField(name: name, value: $0, to: &out) }
                return
            }
            if field.equalsIgnoringCase("date") { sawDate = true }
            MessageEncoder.appendField(name: name, value: value, to: &out)
        }
        if let name = framing.fieldName { MessageEncoder.appendField(name, framing.fieldValue, to: &out) }
        if !sawServer { MessageEncoder.appendField("server", server, to: &out) }
        if !sawDate { MessageEncoder.appendField("date", date(), to: &out) }
        if let connection { MessageEncoder.appendField("connection", connection, to: &out) }
        out.append(0x0D)
        out.append(0x0A)
        return out
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
