import TollgateCore

/// Serializes heads and frames bodies for the wire.
public enum MessageEncoder {
    public static func encode(_ head: RequestHead) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + head.headers.count * 32)
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
        out.append(contentsOf: head.version.description.utf8)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: String(head.status).utf8)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: head.reason.utf8.filter { $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 })
        appendFields(head.headers, to: &out)
        return out
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
        for field in headers {
            // Copied first and checked in place (the same rule as `isSafe`): one pass over contiguous bytes
            // instead of String iteration; an unsafe field is cut off again.
            let start = out.count
            out.append(contentsOf: field.name.utf8)
            let nameEnd = out.count
            out.append(UInt8(ascii: ":"))
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: field.value.utf8)
            let safe =
                nameEnd > start && out[start..<nameEnd].allSatisfy(HeadParser.isTokenByte)
                && !out[(nameEnd + 2)...].contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
            guard safe else {
                out.removeLast(out.count - start)
                continue
            }
            out.append(0x0D)
            out.append(0x0A)
        }
        out.append(0x0D)
        out.append(0x0A)
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
