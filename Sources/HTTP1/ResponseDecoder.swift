import TollgateCore

/// Decodes an upstream's HTTP/1.1 responses (RFC 9112 §4, §6.3). The caller says, per response,
/// whether the request was HEAD, since that alone decides whether a body follows.
public struct ResponseDecoder: Sendable {
    private var decoder: MessageDecoder<ResponseHead>
    public var requestWasHead = false

    public init(limits: HTTPLimits = HTTPLimits()) {
        decoder = MessageDecoder(limits: limits)
    }

    public var bufferedByteCount: Int { decoder.bufferedByteCount }
    public var isMessageComplete: Bool { decoder.isComplete }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 { decoder.append(bytes) }
    public mutating func append(_ bytes: UnsafeRawBufferPointer) { decoder.append(bytes) }
    public mutating func prepareForNextMessage() { decoder.prepareForNextMessage() }
    /// The bytes after the current message, taken out for a tunnel (after a `101 Switching Protocols`).
    public mutating func takeUnparsedBytes() -> [UInt8] { decoder.takeUnparsedBytes() }

    public mutating func next() throws -> MessageEvent<ResponseHead>? {
        let limits = decoder.limits
        let head = requestWasHead
        return try decoder.next { try Self.parseHead($0, limits: limits, requestWasHead: head) }
    }

    public mutating func finishAtEOF() throws -> MessageEvent<ResponseHead>? {
        try decoder.finishAtEOF()
    }

    static func parseHead(_ bytes: ArraySlice<UInt8>, limits: HTTPLimits, requestWasHead: Bool) throws -> (
        ResponseHead, BodyFraming
    ) {
        let (start, fieldSection) = try HeadParser.startLine(bytes)
        guard start.count >= 12 else { throw HTTPParseError.bad("malformed status line") }
        let version = try HeadParser.parseVersion(start.prefix(8))
        let s = start.startIndex
        guard start[s + 8] == UInt8(ascii: " ") else { throw HTTPParseError.bad("malformed status line") }
        let codeBytes = start[(s + 9)..<(s + 12)]
        guard codeBytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let status = Int(String(decoding: codeBytes, as: UTF8.self)),
            status >= 100
        else {
            throw HTTPParseError.bad("malformed status code")
        }
        var reason = ""
        if start.count > 12 {
            guard start[s + 12] == UInt8(ascii: " ") else { throw HTTPParseError.bad("malformed status line") }
            reason = String(decoding: start[(s + 13)...], as: UTF8.self)
        }
        var headers = try HeadParser.fields(fieldSection, limits: limits)
        if requestWasHead || (100..<200).contains(status) || status == 204 || status == 304 {
            // No content follows, whatever the framing fields say; `ResponseFraming` decides what of them the client sees.
            return (ResponseHead(status: status, reason: reason, version: version, headers: headers), .length(0))
        }
        let framing = try HeadParser.framing(headers, version: version, isRequest: false) ?? .untilClose
        HeadParser.canonicalizeContentLength(&headers, framing)
        return (ResponseHead(status: status, reason: reason, version: version, headers: headers), framing)
    }
}
