import TollgateCore

/// Parses the field section shared by requests and responses (RFC 9112 §5), strictly:
/// CRLF line endings only, no obs-fold, no whitespace before the colon, no control characters.
enum HeadParser {
    /// Splits a head (without its final CRLFCRLF) into the start line and the field section after its
    /// CRLF (nil when the head is the start line alone). Only CRLF ends a line.
    static func startLine(_ head: ArraySlice<UInt8>) throws -> (start: ArraySlice<UInt8>, fields: ArraySlice<UInt8>?) {
        var lineBreak: Int?
        var i = head.startIndex
        while i < head.endIndex {
            let byte = head[i]
            if byte == UInt8(ascii: "\r") {
                guard i + 1 < head.endIndex, head[i + 1] == UInt8(ascii: "\n") else {
                    throw HTTPParseError.bad("bare CR in message head")
                }
                if lineBreak == nil { lineBreak = i }
                i += 2
                continue
            }
            if byte == UInt8(ascii: "\n") { throw HTTPParseError.bad("bare LF in message head") }
            i += 1
        }
        guard let lineBreak else { return (head, nil) }
        return (head[head.startIndex..<lineBreak], head[(lineBreak + 2)...])
    }

    /// Parses a field section whose lines `startLine` checked (CRLF only). The section is copied once into
    /// the headers' storage (with room for the fields a proxy adds) and fields are offsets into it.
    static func fields(_ section: ArraySlice<UInt8>?, limits: HTTPLimits) throws -> HTTPHeaders {
        guard let section else { return HTTPHeaders() }
        var lineCount = 1
        for b in section where b == UInt8(ascii: "\n") { lineCount += 1 }
        guard lineCount <= limits.maxHeaderCount else {
            throw HTTPParseError(status: 431, "more than \(limits.maxHeaderCount) header fields")
        }
        var storage: [UInt8] = []
        storage.reserveCapacity(section.count + 256)
        storage.append(contentsOf: section)
        var spans: [HTTPHeaders.Span] = []
        // Room for the fields a proxy adds (forwarding fields, date, server, framing), as `storage` has.
        spans.reserveCapacity(lineCount + 8)
        try storage.withUnsafeBufferPointer { s in
            var lineStart = 0
            while lineStart <= s.count {
                var lineEnd = lineStart
                while lineEnd < s.count && s[lineEnd] != UInt8(ascii: "\r") { lineEnd += 1 }
                spans.append(try field(s, lineStart, lineEnd))
                lineStart = lineEnd + 2
            }
        }
        return HTTPHeaders(storage: storage, spans: spans)
    }

    /// Checks one field line on its own (a chunked body's trailer), by the same rules.
    static func checkFieldLine(_ line: ArraySlice<UInt8>) throws {
        try line.withUnsafeBufferPointer { _ = try field($0, 0, $0.count) }
    }

    /// One field line, `s[start..<end]`.
    private static func field(_ s: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) throws -> HTTPHeaders.Span {
        guard start < end else { throw HTTPParseError.bad("empty header line") }
        let first = s[start]
        if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            throw HTTPParseError.bad("obsolete line folding")
        }
        var colon = start
        while colon < end && s[colon] != UInt8(ascii: ":") { colon += 1 }
        guard colon < end else { throw HTTPParseError.bad("header line without colon") }
        guard colon > start else { throw HTTPParseError.bad("invalid header name") }
        for i in start..<colon where !isTokenByte(s[i]) { throw HTTPParseError.bad("invalid header name") }
        var valueStart = colon + 1
        var valueEnd = end
        while valueStart < valueEnd && (s[valueStart] == 0x20 || s[valueStart] == 0x09) { valueStart += 1 }
        while valueEnd > valueStart && (s[valueEnd - 1] == 0x20 || s[valueEnd - 1] == 0x09) { valueEnd -= 1 }
        for i in valueStart..<valueEnd {
            let b = s[i]
            if !(b == 0x09 || (b >= 0x20 && b != 0x7F)) {
                throw HTTPParseError.bad("control character in header value")
            }
        }
        return HTTPHeaders.Span(name: start..<colon, value: valueStart..<valueEnd)
    }

    /// tchar from RFC 9110 §5.6.2.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static func parseVersion(_ bytes: ArraySlice<UInt8>) throws -> HTTPVersion {
        let s = bytes.startIndex
        guard bytes.count == 8, bytes[s] == UInt8(ascii: "H"), bytes[s + 1] == UInt8(ascii: "T"),
            bytes[s + 2] == UInt8(ascii: "T"), bytes[s + 3] == UInt8(ascii: "P"), bytes[s + 4] == UInt8(ascii: "/"),
            bytes[s + 6] == UInt8(ascii: "."), let major = digit(bytes[s + 5]), let minor = digit(bytes[s + 7])
        else {
            throw HTTPParseError.bad("malformed HTTP version")
        }
        guard major == 1 else { throw HTTPParseError(status: 505, "unsupported HTTP version") }
        return HTTPVersion(major: major, minor: minor)
    }

    /// A server answers HTTP/1.1 and HTTP/1.0 only: an HTTP/1.2 request would otherwise be served with
    /// the rules of neither (no Host required, no 1.0 keep-alive semantics).
    static func parseRequestVersion(_ bytes: ArraySlice<UInt8>) throws -> HTTPVersion {
        let version = try parseVersion(bytes)
        guard version == .http11 || version == .http10 else {
            throw HTTPParseError(status: 505, "unsupported HTTP version")
        }
        return version
    }

    private static func digit(_ b: UInt8) -> Int? {
        (b >= 0x30 && b <= 0x39) ? Int(b - 0x30) : nil
    }

    /// The body length a message declares: RFC 9112 §6.1–6.3, rejecting what could smuggle.
    static func framing(_ headers: HTTPHeaders, version: HTTPVersion, isRequest: Bool) throws -> BodyFraming? {
        let hasLength = headers.contains("content-length")
        if headers.contains("transfer-encoding") {
            let transferCodings = headers.tokens("transfer-encoding")
            guard !hasLength else { throw HTTPParseError.bad("both Transfer-Encoding and Content-Length") }
            guard version != .http10 || !isRequest else { throw HTTPParseError.bad("Transfer-Encoding in HTTP/1.0") }
            guard transferCodings.last == "chunked" else {
                if isRequest {
                    throw HTTPParseError(
                        status: isChunkedOnlyTypo(transferCodings) ? 400 : 501, "unsupported transfer coding")
                }
                return nil  // a response without final chunked is read until close (RFC 9112 §6.3 rule 4)
            }
            guard transferCodings.filter({ $0 == "chunked" }).count == 1 else {
                throw HTTPParseError.bad("chunked applied more than once")
            }
            if isRequest && transferCodings.count != 1 {
                throw HTTPParseError(status: 501, "unsupported transfer coding")
            }
            return .chunked
        }
        guard let declared = try contentLength(headers) else { return isRequest ? .length(0) : nil }
        return .length(declared)
    }

    /// The length `Content-Length` declares, nil without one. A list of identical values (`5, 5`, or the
    /// field repeated) is one length (RFC 9112 §6.3 rule 5); differing or malformed values are an error.
    static func contentLength(_ headers: HTTPHeaders) throws -> UInt64? {
        var declared: UInt64?
        try headers.forEachValue("content-length") { field in
            // `5,,5` and `5, ` have an empty item: not a length.
            try ASCIIBytes.forEachListItem(field, includingEmpty: true) { item in
                guard !item.isEmpty, item.count <= 18 else { throw HTTPParseError.bad("invalid Content-Length") }
                var value: UInt64 = 0
                for byte in item {
                    let digit = byte &- 0x30
                    guard digit <= 9 else { throw HTTPParseError.bad("invalid Content-Length") }
                    value = value * 10 + UInt64(digit)
                }
                if let d = declared, d != value { throw HTTPParseError.bad("conflicting Content-Length values") }
                declared = value
                return true
            }
            return true
        }
        return declared
    }

    /// Leaves one `Content-Length` with the decimal length the gateway framed the message by (`05` and
    /// `5, 5` become `5`), so what is forwarded is what was parsed, never the raw field (RFC 9112 §6.3
    /// allows replacing a list of identical values by one).
    static func canonicalizeContentLength(_ headers: inout HTTPHeaders, _ framing: BodyFraming) {
        guard case .length(let n) = framing, headers.contains("content-length") else { return }
        headers.set("content-length", String(n))
    }

    private static func isChunkedOnlyTypo(_ codings: [String]) -> Bool {
        codings.contains { $0.contains("chunked") && $0 != "chunked" }
    }
}

/// How a message body is delimited.
public enum BodyFraming: Sendable, Equatable {
    case length(UInt64)
    case chunked
    /// Response only: the body runs until the connection closes.
    case untilClose
}
