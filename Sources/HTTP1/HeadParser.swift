import TollgateCore

/// Parses the field section shared by requests and responses (RFC 9112 §5), strictly:
/// CRLF line endings only, no obs-fold, no whitespace before the colon, no control characters.
enum HeadParser {
    /// Splits a head (without its final CRLFCRLF) into the start line and the field lines.
    static func lines(_ head: ArraySlice<UInt8>) throws -> (start: ArraySlice<UInt8>, fields: [ArraySlice<UInt8>]) {
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = head.startIndex
        var i = head.startIndex
        while i < head.endIndex {
            let byte = head[i]
            if byte == UInt8(ascii: "\r") {
                guard i + 1 < head.endIndex, head[i + 1] == UInt8(ascii: "\n") else {
                    throw HTTPParseError.bad("bare CR in message head")
                }
                lines.append(head[lineStart..<i])
                i += 2
                lineStart = i
                continue
            }
            if byte == UInt8(ascii: "\n") { throw HTTPParseError.bad("bare LF in message head") }
            i += 1
        }
        lines.append(head[lineStart..<head.endIndex])
        guard let start = lines.first else { throw HTTPParseError.bad("empty message head") }
        return (start, Array(lines.dropFirst()))
    }

    static func fields(_ lines: [ArraySlice<UInt8>], limits: HTTPLimits) throws -> HTTPHeaders {
        guard lines.count <= limits.maxHeaderCount else {
            throw HTTPParseError(status: 431, "more than \(limits.maxHeaderCount) header fields")
        }
        var headers: [(String, String)] = []
        headers.reserveCapacity(lines.count)
        for line in lines {
            guard let first = line.first else { throw HTTPParseError.bad("empty header line") }
            if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                throw HTTPParseError.bad("obsolete line folding")
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                throw HTTPParseError.bad("header line without colon")
            }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
                throw HTTPParseError.bad("invalid header name")
            }
            var value = line[(colon + 1)...]
            while let b = value.first, b == 0x20 || b == 0x09 { value.removeFirst() }
            while let b = value.last, b == 0x20 || b == 0x09 { value.removeLast() }
            for b in value where !(b == 0x09 || (b >= 0x20 && b != 0x7F)) {
                throw HTTPParseError.bad("control character in header value")
            }
            headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        return HTTPHeaders(headers)
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
        let text = Array(bytes)
        guard text.count == 8, text.starts(with: Array("HTTP/".utf8)), text[6] == UInt8(ascii: "."),
            let major = digit(text[5]), let minor = digit(text[7])
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
        let transferCodings = headers.tokens("transfer-encoding")
        let hasLength = headers.contains("content-length")
        if headers.contains("transfer-encoding") {
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
        for field in headers.values("content-length") {
            for item in field.split(separator: ",", omittingEmptySubsequences: false) {
                let text = item.trimmingASCIIWhitespace()
                guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                    let value = UInt64(text)
                else {
                    throw HTTPParseError.bad("invalid Content-Length")
                }
                if let d = declared, d != value { throw HTTPParseError.bad("conflicting Content-Length values") }
                declared = value
            }
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
