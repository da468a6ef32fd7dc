import TollgateCore
import XCTest

final class ProxyProtocolHeaderTests: XCTestCase {
    private func header(_ bytes: [UInt8]) throws -> ProxyProtocolHeader? {
        if case .header(let h) = try ProxyProtocolHeader.parse(bytes) { return h }
        return nil
    }

    func testVersion1() throws {
        let line = Array("PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\n".utf8)
        let parsed = try XCTUnwrap(try header(line + [0x16, 0x03, 0x01]))
        XCTAssertEqual(parsed.source?.address.description, "203.0.113.7")
        XCTAssertEqual(parsed.source?.port, 51234)
        XCTAssertEqual(parsed.length, line.count, "only the line is consumed; TLS follows")
        XCTAssertEqual(
            try header(Array("PROXY TCP6 2001:db8::1 2001:db8::2 1 443\r\n".utf8))?.source?.address.description,
            "2001:db8::1")
        XCTAssertNil(try header(Array("PROXY UNKNOWN\r\n".utf8))?.source)
        // Every prefix of a good line asks for more; none is mistaken for a header.
        for cut in 0..<line.count {
            XCTAssertEqual(try ProxyProtocolHeader.parse(Array(line.prefix(cut))), .needMore, "cut at \(cut)")
        }
    }

    func testVersion2() throws {
        let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
        let v4 = signature + [0x21, 0x11, 0x00, 0x0C, 198, 51, 100, 9, 10, 0, 0, 1, 0xC8, 0x05, 0x01, 0xBB]
        let parsed = try XCTUnwrap(try header(v4 + [0x16]))
        XCTAssertEqual(parsed.source?.address.description, "198.51.100.9")
        XCTAssertEqual(parsed.source?.port, 0xC805)
        XCTAssertEqual(parsed.length, 28)
        let tlv: [UInt8] = [0x04, 0x00, 0x02, 0xAB, 0xCD]
        var withTLV = v4
        withTLV[15] = UInt8(12 + tlv.count)
        XCTAssertEqual(try header(withTLV + tlv)?.length, 28 + tlv.count, "TLVs are skipped")
        XCTAssertNil(try header(signature + [0x20, 0x00, 0x00, 0x00])?.source, "LOCAL: a health check")
        for cut in 0..<v4.count {
            XCTAssertEqual(try ProxyProtocolHeader.parse(Array(v4.prefix(cut))), .needMore, "cut at \(cut)")
        }
    }

    func testMalformed() {
        let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
        let bad: [String: [UInt8]] = [
            "TLS without a header": [0x16, 0x03, 0x01, 0x00],
            "HTTP without a header": Array("GET / HTTP/1.1\r\n".utf8),
            "v1 bad address": Array("PROXY TCP4 999.1.1.1 10.0.0.1 1 2\r\n".utf8),
            "v1 family mismatch": Array("PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n".utf8),
            "v1 port 70000": Array("PROXY TCP4 1.2.3.4 10.0.0.1 70000 2\r\n".utf8),
            "v1 port with a sign": Array("PROXY TCP4 1.2.3.4 10.0.0.1 +1 2\r\n".utf8),
            "v1 two spaces": Array("PROXY TCP4  1.2.3.4 10.0.0.1 1 2\r\n".utf8),
            "v1 bare CR": Array("PROXY TCP4 1.2.3.4 10.0.0.1 1 2\rX".utf8),
            "v1 too long": Array(("PROXY TCP4 " + String(repeating: "1", count: 120)).utf8),
            "v2 version 3": signature + [0x31, 0x11, 0x00, 0x0C] + Array(repeating: 0, count: 12),
            "v2 command 2": signature + [0x22, 0x11, 0x00, 0x0C] + Array(repeating: 0, count: 12),
            "v2 UDP": signature + [0x21, 0x12, 0x00, 0x0C] + Array(repeating: 0, count: 12),
            "v2 addresses truncated": signature + [0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4],
            "v2 huge length": signature + [0x21, 0x11, 0xFF, 0xFF],
        ]
        for (what, bytes) in bad {
            XCTAssertThrowsError(try ProxyProtocolHeader.parse(bytes), what)
        }
    }
}
