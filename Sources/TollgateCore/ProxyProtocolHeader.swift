/// The PROXY protocol header an L4 load balancer puts before a connection's first byte (HAProxy's
/// specification, versions 1 and 2), telling the original client's address. Untrusted bytes until the
/// listener has checked the sender's address; every length is bounded and checked.
public struct ProxyProtocolHeader: Sendable, Equatable {
    /// The original client; nil for v2 `LOCAL` (the balancer's own health check) and v1 `UNKNOWN`.
    public var source: (address: IPAddress, port: Int)?
    /// Bytes the header takes, to consume before the next protocol (TLS) begins.
    public var length: Int

    public static func == (a: ProxyProtocolHeader, b: ProxyProtocolHeader) -> Bool {
        a.length == b.length && a.source?.address == b.source?.address && a.source?.port == b.source?.port
    }

    public enum Parse: Sendable, Equatable {
        /// Not enough bytes yet to decide.
        case needMore
        case header(ProxyProtocolHeader)
    }

    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    static let signatureV2: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// v1 lines are at most 107 bytes (specification §2.1).
    static let maxV1Length = 107
    /// A v2 header with its TLVs; anything longer is refused rather than buffered.
    public static let maxV2Length = 16 + 1024
    /// What a reader must be able to look at to parse any header it accepts.
    public static let maxLength = maxV2Length

    public static func parse(_ bytes: [UInt8]) throws -> Parse {
        let prefix = min(bytes.count, signatureV2.count)
        if bytes.prefix(prefix).elementsEqual(signatureV2.prefix(prefix)) {
            return bytes.count < 16 ? .needMore : try parseV2(bytes)
        }
        let v1 = Array("PROXY ".utf8)
        guard bytes.prefix(min(bytes.count, v1.count)).elementsEqual(v1.prefix(min(bytes.count, v1.count))) else {
            throw Malformed("no PROXY protocol header")
        }
        return try parseV1(bytes)
    }

    private static func parseV1(_ bytes: [UInt8]) throws -> Parse {
        guard let cr = bytes.prefix(maxV1Length).firstIndex(of: 0x0D) else {
            if bytes.count >= maxV1Length { throw Malformed("PROXY v1 line longer than 107 bytes") }
            return .needMore
        }
        guard cr + 1 < bytes.count else { return .needMore }
        guard bytes[cr + 1] == 0x0A else { throw Malformed("PROXY v1 line not ended by CRLF") }
        guard bytes[..<cr].allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw Malformed("PROXY v1 line with control bytes")
        }
        let fields = String(decoding: bytes[..<cr], as: UTF8.self).split(
            separator: " ", omittingEmptySubsequences: false
        ).map(String.init)
        let length = cr + 2
        if fields.count >= 2, fields[1] == "UNKNOWN" {
            return .header(ProxyProtocolHeader(source: nil, length: length))
        }
        guard fields.count == 6, fields[1] == "TCP4" || fields[1] == "TCP6",
            let source = IPAddress(fields[2]), let destination = IPAddress(fields[3]),
            source.bytes.count == (fields[1] == "TCP4" ? 4 : 16), destination.bytes.count == source.bytes.count,
            let sourcePort = port(fields[4]), port(fields[5]) != nil
        else {
            throw Malformed("PROXY v1 line is not 'PROXY TCP4|TCP6 SRC DST SPORT DPORT'")
        }
        return .header(ProxyProtocolHeader(source: (source, sourcePort), length: length))
    }

    /// A decimal port without sign, leading zeros or excess digits.
    private static func port(_ text: String) -> Int? {
        guard !text.isEmpty, text.count <= 5, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            text == "0" || !text.hasPrefix("0"),
            let value = Int(text), value <= 65535
        else { return nil }
        return value
    }

    private static func parseV2(_ bytes: [UInt8]) throws -> Parse {
        let versionCommand = bytes[12]
        guard versionCommand >> 4 == 2 else { throw Malformed("PROXY v2 with version \(versionCommand >> 4)") }
        let command = versionCommand & 0x0F
        guard command <= 1 else { throw Malformed("PROXY v2 with command \(command)") }
        let addressLength = Int(bytes[14]) << 8 | Int(bytes[15])
        let length = 16 + addressLength
        guard length <= maxV2Length else { throw Malformed("PROXY v2 header of \(length) bytes") }
        guard bytes.count >= length else { return .needMore }
        if command == 0 { return .header(ProxyProtocolHeader(source: nil, length: length)) }  // LOCAL
        let body = Array(bytes[16..<length])
        switch bytes[13] {
        case 0x11:  // TCP over IPv4
            guard body.count >= 12 else { throw Malformed("PROXY v2 IPv4 addresses truncated") }
            return .header(
                ProxyProtocolHeader(
                    source: (IPAddress(bytes: Array(body[0..<4])), Int(body[8]) << 8 | Int(body[9])), length: length))
        case 0x21:  // TCP over IPv6
            guard body.count >= 36 else { throw Malformed("PROXY v2 IPv6 addresses truncated") }
            return .header(
                ProxyProtocolHeader(
                    source: (IPAddress(bytes: Array(body[0..<16])), Int(body[32]) << 8 | Int(body[33])),
                    length: length))
        case 0x00:  // UNSPEC: the balancer does not know; keep the connection's own address
            return .header(ProxyProtocolHeader(source: nil, length: length))
        default:
            throw Malformed("PROXY v2 family/protocol \(bytes[13]) (only TCP over IPv4 or IPv6)")
        }
    }
}
