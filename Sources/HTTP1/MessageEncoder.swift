import TollgateCore

/// Serializes heads and frames bodies for the wire.
public enum MessageEncoder {
    public static func encode(_ head: RequestHead) -> [UInt8] {
        var out: [UInt8] = []
        // The exact size of a head without unsafe fields: one allocation.
        out.reserveCapacity(
            head.method.utf8.count + head.target.utf8.count + head.headers.byteCount + head.headers.count * 4 + 16)
        out.append(contentsOf: head.method.utf8)
        out.append(UInt8(ascii: " "))
        appendTarget(head.target, to: &out)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: head.version.description.utf8)
        appendFields(head.headers, to: &out)
        return out
    }

    public static func encode(_ head: ResponseHead) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + head.headers.count * 32)
        appendStatusLine(version: head.version, status: head.status, reason: head.reason, to: &out)
        head.headers.forEachField { name, value in appendField(name: name, value: value, to: &out) }
        out.append(0x0D)
        out.append(0x0A)
        return out
    }

    /// The status line and its CRLF; the reason phrase loses any control byte but HTAB.
    static func appendStatusLine(
        version: HTTPVersion = .http11, status: Int, reason: String, to out: inout [UInt8]
    ) {
        out.append(contentsOf: version.description.utf8)
        out.append(UInt8(ascii: " "))
        if (100...999).contains(status) {
            out.append(UInt8(ascii: "0") + UInt8(status / 100))
            out.append(UInt8(ascii: "0") + UInt8(status / 10 % 10))
            out.append(UInt8(ascii: "0") + UInt8(status % 10))
        } else {
            out.append(contentsOf: String(status).utf8)
        }
        out.append(UInt8(ascii: " "))
        for byte in reason.utf8 where byte >= 0x20 && byte != 0x7F || byte == 0x09 { out.append(byte) }
        out.append(0x0D)
        out.append(0x0A)
    }

    /// Whatever a value's origin (a client, an upstream, a certificate, the configuration), the encoder
    /// never writes a field that could end the line or the head early: a name that is not a token, or a
    /// value with CR, LF or NUL, is left out. Earlier layers reject such input; this is the last guard.
    static func isSafe(name: String, value: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(HeadParser.isTokenByte)
            && !value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
    }

    /// A request target is never allowed to carry a space, CR, LF or another control byte into the
    /// request line: such bytes are percent-encoded.
    private static func appendTarget(_ target: String, to out: inout [UInt8]) {
        guard target.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            out.append(contentsOf: target.utf8)
            return
        }
        out += PercentEncoding.encode(target.utf8) { $0 <= 0x20 || $0 == 0x7F }
    }

    private static func appendFields(_ headers: HTTPHeaders, to out: inout [UInt8]) {
        out.append(0x0D)
        out.append(0x0A)
        headers.forEachField { name, value in appendField(name: name, value: value, to: &out) }
        out.append(0x0D)
        out.append(0x0A)
    }

    /// `name: value` and its CRLF, or nothing when the field is unsafe.
    static func appendField(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>, to out: inout [UInt8])
    {
        // The same rule as `isSafe`, on the stored bytes: an unsafe field is left out.
        guard !name.isEmpty, name.allSatisfy(HeadParser.isTokenByte),
            !value.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 })
        else { return }
        out.append(contentsOf: name)
        out.append(UInt8(ascii: ":"))
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: value)
        out.append(0x0D)
        out.append(0x0A)
    }

    static func appendField(_ name: String, _ value: String, to out: inout [UInt8]) {
        ASCIIBytes.with(name) { n in ASCIIBytes.with(value) { appendField(name: n, value: $0, to: &out) } }
    }

    /// One chunk of a chunked body (RFC 9112 §7.1); empty payloads must not be sent this way.
    public static func chunk(_ payload: [UInt8]) -> [UInt8] {
        var out = Array(String(payload.count, radix: 16).utf8)
        out.append(contentsOf: [0x0D, 0x0A])
        out.append(contentsOf: payload)
        out.append(contentsOf: [0x0D, 0x0A])
        return out
    }

    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)
}
