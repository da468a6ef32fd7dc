import XCTest

@testable import TollgateTLS

/// The SNI extension body as the client-hello callback reads it, before OpenSSL has checked it.
final class ServerNameExtensionTests: XCTestCase {
    private func parse(_ bytes: [UInt8]) throws -> String? {
        try bytes.withUnsafeBytes { try ServerNameExtension.hostName($0) }
    }

    private func body(_ entries: [(UInt8, [UInt8])]) -> [UInt8] {
        var list: [UInt8] = []
        for (type, name) in entries { list += [type, UInt8(name.count >> 8), UInt8(name.count & 0xFF)] + name }
        return [UInt8(list.count >> 8), UInt8(list.count & 0xFF)] + list
    }

    func testHostName() throws {
        XCTAssertEqual(try parse(body([(0, Array("a.example".utf8))])), "a.example")
        XCTAssertNil(try parse(body([(7, Array("other".utf8))])), "unknown name types are skipped")
    }

    func testMalformedIsAnError() {
        let good = body([(0, Array("a.example".utf8))])
        let malformed: [String: [UInt8]] = [
            "empty": [],
            "short list length": [0],
            "list length beyond the body": [0, 50] + Array(good.dropFirst(2)),
            "list length short of the body": [0, UInt8(good.count - 3)] + Array(good.dropFirst(2)),
            "name length beyond the list": [0, 4, 0, 0, 9, 0x61],
            "empty list": [0, 0],
            "empty name": body([(0, [])]),
            "NUL in name": body([(0, Array("a\0b".utf8))]),
            "CR LF in name": body([(0, Array("a\r\nb".utf8))]),
            "space in name": body([(0, Array("a b".utf8))]),
            "two host names": body([(0, Array("a".utf8)), (0, Array("b".utf8))]),
        ]
        for (what, bytes) in malformed {
            XCTAssertThrowsError(try parse(bytes), what)
        }
        // Every truncation of a good body is malformed, never a shorter name.
        for cut in 0..<good.count {
            XCTAssertThrowsError(try parse(Array(good.prefix(cut))), "cut at \(cut)")
        }
    }
}
