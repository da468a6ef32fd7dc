/// Reads the host name from a ClientHello's `server_name` extension body (RFC 6066 §3), which the
/// client-hello callback sees before OpenSSL has parsed anything. Untrusted bytes: every length is
/// checked, and anything malformed is an error rather than "no name".
enum ServerNameExtension {
    struct Malformed: Error {}

    static func hostName(_ body: UnsafeRawBufferPointer) throws -> String? {
        var reader = Reader(bytes: body)
        let listLength = try reader.uint16()
        guard listLength == reader.remaining, listLength > 0 else { throw Malformed() }
        var hostName: String?
        while reader.remaining > 0 {
            let type = try reader.uint8()
            let length = try reader.uint16()
            let name = try reader.bytes(length)
            guard type == 0 else { continue }  // host_name is the only type defined
            // One host_name at most, non-empty, with no NUL or control bytes (RFC 6066 forbids them).
            guard hostName == nil, !name.isEmpty, name.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw Malformed() }
            hostName = String(decoding: name, as: UTF8.self)
        }
        return hostName
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0
        var remaining: Int { bytes.count - offset }

        mutating func uint8() throws -> Int {
            guard remaining >= 1 else { throw Malformed() }
            defer { offset += 1 }
            return Int(bytes[offset])
        }

        mutating func uint16() throws -> Int {
            guard remaining >= 2 else { throw Malformed() }
            defer { offset += 2 }
            return Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
        }

        mutating func bytes(_ count: Int) throws -> [UInt8] {
            guard remaining >= count else { throw Malformed() }
            defer { offset += count }
            return Array(bytes[offset..<offset + count])
        }
    }
}
