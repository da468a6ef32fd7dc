import XCTest

@testable import TollgateTLS

/// The ALPN choice (RFC 7301) as a pure function of the client's list: no handshake needed.
final class ALPNChoiceTests: XCTestCase {
    /// RFC 7301 §3.1 wire form: each name behind its one-byte length.
    private func wire(_ names: [String]) -> [UInt8] {
        names.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
    }

    private func chosen(_ list: [UInt8], h2: Bool) -> String? {
        list.withUnsafeBufferPointer { buffer in
            ALPN.choose(offered: buffer, allowingHTTP2: h2).map { String(decoding: list[$0], as: UTF8.self) }
        }
    }

    func testChoosesH2WhenAllowedWhateverTheClientsOrder() {
        XCTAssertEqual(chosen(wire(["h2", "http/1.1"]), h2: true), "h2")
        XCTAssertEqual(chosen(wire(["http/1.1", "h2"]), h2: true), "h2")
        XCTAssertEqual(chosen(wire(["h2"]), h2: true), "h2")
    }

    func testHTTP11WhenH2IsNotAllowedOrNotOffered() {
        XCTAssertEqual(chosen(wire(["h2", "http/1.1"]), h2: false), "http/1.1")
        XCTAssertEqual(chosen(wire(["http/1.1"]), h2: true), "http/1.1")
        XCTAssertEqual(chosen(wire(["spdy/3", "http/1.1"]), h2: true), "http/1.1")
    }

    func testNothingWhenNeitherIsOffered() {
        XCTAssertNil(chosen(wire(["h2"]), h2: false), "an h2-only client on a port without h2")
        XCTAssertNil(chosen(wire(["h3", "spdy/3", "http/1.0"]), h2: true))
        XCTAssertNil(chosen([], h2: true))
    }

    func testLookAlikesAndMalformedListsAreNotMatched() {
        XCTAssertNil(chosen(wire(["h2c", "http/1.10", "HTTP/1.1"]), h2: true), "prefixes and case differ")
        // A length that runs past the end stops the walk: the bytes after it are never read as a name.
        XCTAssertNil(chosen([9] + Array("h2".utf8), h2: true))
        XCTAssertEqual(chosen(wire(["http/1.1"]) + [40, 1, 2], h2: true), "http/1.1", "found before the bad entry")
        XCTAssertNil(chosen([0, 0, 0], h2: true), "empty names")
    }
}
