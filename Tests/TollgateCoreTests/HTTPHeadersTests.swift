import TollgateCore
import XCTest

/// The byte-stored header list behaves as the list of String pairs it replaced.
final class HTTPHeadersTests: XCTestCase {
    func testLookupsIgnoreLetterCaseOnly() {
        let headers = HTTPHeaders([("X-Thing", "1"), ("x@y", "2")])
        XCTAssertEqual(headers["x-thing"], "1")
        XCTAssertEqual(headers["X-THING"], "1")
        // `@` and `` ` `` differ only in bit 0x20, as `A` and `a` do: they are not the same name.
        XCTAssertNil(headers["x`y"])
        XCTAssertEqual(headers["X@Y"], "2")
        XCTAssertFalse(headers.contains("x-thin"))
        XCTAssertTrue(HTTPHeaders([("a_b", "1")]).contains("A_B"))
        XCTAssertFalse(HTTPHeaders([("a-b", "1")]).contains("a\rb"))
    }

    func testSetKeepsFirstPositionAndDropsLaterDuplicates() {
        var headers = HTTPHeaders([("a", "1"), ("Via", "x"), ("b", "2"), ("via", "y"), ("c", "3")])
        headers.set("VIA", "z")
        XCTAssertEqual(headers.fields.map(\.name), ["a", "Via", "b", "c"])
        XCTAssertEqual(headers.values("via"), ["z"])
        headers.set("d", "4")
        XCTAssertEqual(headers.fields.last?.name, "d")
        XCTAssertEqual(headers.count, 5)
    }

    func testRemovalAndEqualityAreByBytes() {
        var headers = HTTPHeaders([("a", "1"), ("X-Envoy-Foo", "2"), ("b", "3"), ("x-envoy-bar", "4")])
        headers.removeFields { $0.hasPrefixIgnoringCase("x-envoy-") }
        XCTAssertEqual(headers, HTTPHeaders([("a", "1"), ("b", "3")]))
        XCTAssertNotEqual(headers, HTTPHeaders([("A", "1"), ("b", "3")]))
        headers.remove("A")
        XCTAssertEqual(headers, HTTPHeaders([("b", "3")]))
        // Storage left behind by removals does not make equal lists unequal.
        headers.add("c", "5")
        XCTAssertEqual(headers, HTTPHeaders([("b", "3"), ("c", "5")]))
    }

    func testTokenLists() {
        let headers = HTTPHeaders([
            ("Connection", " Keep-Alive ,, X-Foo"), ("connection", "close"), ("TE", "gzip,\tChunked"),
        ])
        XCTAssertEqual(headers.tokens("connection"), ["keep-alive", "x-foo", "close"])
        XCTAssertTrue(headers.containsToken("connection", "x-foo"))
        XCTAssertFalse(headers.containsToken("connection", "x-fo"))
        XCTAssertEqual(headers.lastToken("te"), "chunked")
        XCTAssertNil(headers.lastToken("upgrade"))
        XCTAssertEqual(headers.combined("connection"), " Keep-Alive ,, X-Foo,close")
        XCTAssertEqual(headers.count("CONNECTION"), 2)
    }

    func testNameSetMatchesWholeNamesOnly() {
        let set = HeaderNameSet(["te", "Transfer-Encoding"])
        var headers = HTTPHeaders([("TE", "1"), ("tex", "2"), ("transfer-encoding", "3"), ("t", "4")])
        headers.removeFields { set.contains($0) }
        XCTAssertEqual(headers.fields.map(\.name), ["tex", "t"])
    }
}
