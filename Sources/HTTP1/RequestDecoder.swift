import TollgateCore

/// Decodes HTTP/1.1 requests from a server's point of view (RFC 9112 §3, §6), strictly.
public struct RequestDecoder: Sendable {
    private var decoder: MessageDecoder<RequestHead>

    public init(limits: HTTPLimits = HTTPLimits()) {
        decoder = MessageDecoder(limits: limits, scansRequestLine: true)
    }

    public var bufferedByteCount: Int { decoder.bufferedByteCount }
    /// True between messages with nothing buffered.
    public var isIdle: Bool { decoder.isIdle }
    public var isMessageComplete: Bool { decoder.isComplete }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 { decoder.append(bytes) }
    public mutating func append(_ bytes: UnsafeRawBufferPointer) { decoder.append(bytes) }
    public mutating func prepareForNextMessage() { decoder.prepareForNextMessage() }
    /// The bytes after the current message, taken out for a tunnel (after a `101 Switching Protocols`).
    public mutating func takeUnparsedBytes() -> [UInt8] { decoder.takeUnparsedBytes() }

    public mutating func next() throws -> MessageEvent<RequestHead>? {
        let limits = decoder.limits
        return try decoder.next { try Self.parseHead($0, limits: limits) }
    }

    public mutating func finishAtEOF() throws -> MessageEvent<RequestHead>? {
        try decoder.finishAtEOF()
    }

    static func parseHead(_ bytes: ArraySlice<UInt8>, limits: HTTPLimits) throws -> (RequestHead, BodyFraming) {
        let (start, fieldSection) = try HeadParser.startLine(bytes)
        // Exactly two spaces: method SP request-target SP version.
        guard let firstSpace = start.firstIndex(of: UInt8(ascii: " ")),
            let secondSpace = start[(firstSpace + 1)...].firstIndex(of: UInt8(ascii: " ")),
            !start[(secondSpace + 1)...].contains(UInt8(ascii: " "))
        else { throw HTTPParseError.bad("malformed request line") }
        let method = start[start.startIndex..<firstSpace]
        let target = start[(firstSpace + 1)..<secondSpace]
        guard !method.isEmpty, method.allSatisfy(HeadParser.isTokenByte) else {
            throw HTTPParseError.bad("invalid method")
        }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPParseError.bad("invalid request target")
        }
        let version = try HeadParser.parseRequestVersion(start[(secondSpace + 1)...])
        var headers = try HeadParser.fields(fieldSection, limits: limits)
        let hostCount = headers.count("host")
        if version == .http11 {
            guard hostCount == 1 else {
                throw HTTPParseError.bad(hostCount == 0 ? "missing Host header" : "more than one Host header")
            }
        } else if hostCount > 1 {
            throw HTTPParseError.bad("more than one Host header")
        }
        if hostCount == 1, let host = headers["host"], !RequestTarget.isValidAuthority(host) {
            throw HTTPParseError.bad("invalid Host header")
        }
        let methodText = String(decoding: method, as: UTF8.self)
        let targetText = String(decoding: target, as: UTF8.self)
        _ = try RequestTarget.parse(targetText, method: methodText)
        guard let framing = try HeadParser.framing(headers, version: version, isRequest: true) else {
            throw HTTPParseError.bad("unframed request body")
        }
        HeadParser.canonicalizeContentLength(&headers, framing)
        return (RequestHead(method: methodText, target: targetText, version: version, headers: headers), framing)
    }
}
