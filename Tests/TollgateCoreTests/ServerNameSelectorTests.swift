import TollgateCore
import XCTest

/// The one rule that picks a TLS server block, for SNI and for Host alike.
final class ServerNameSelectorTests: XCTestCase {
    let selector = ServerNameSelector(blocks: [
        ["secure.test"],
        ["*.test", "public.example"],
        ["*.deep.test"],
        ["*"],
    ])

    func testExactThenLongestWildcardThenCatchAll() {
        let cases: [(String?, Int?)] = [
            ("secure.test", 0),
            ("SECURE.test", 0),
            ("public.example", 1),
            ("x.test", 1),
            ("a.b.test", 1),
            ("x.deep.test", 2),
            ("a.b.deep.test", 2),
            ("deep.test", 1),  // `*.deep.test` never covers deep.test itself
            ("test", 3),
            ("elsewhere.example", 3),
            (nil, 0),
            ("", 0),
        ]
        for (name, expected) in cases {
            XCTAssertEqual(selector.block(for: name), expected, "\(name ?? "nil")")
        }
    }

    func testWithoutCatchAllAnUnknownNameSelectsNothing() {
        let two = ServerNameSelector(blocks: [["secure.test"], ["*.test"]])
        XCTAssertNil(two.block(for: "example.org"))
        XCTAssertNil(two.block(for: "secure.test."), "a trailing dot is another name, not a way around the exact block")
        XCTAssertEqual(two.block(for: "secure.test"), 0)
    }

    func testHostMustSelectTheConnectionsOwnBlock() {
        let two = ServerNameSelector(blocks: [["secure.test"], ["*.test"]])
        XCTAssertTrue(two.admits(host: "secure.test", onBlock: 0))
        XCTAssertFalse(
            two.admits(host: "secure.test", onBlock: 1),
            "a wildcard block's connection asking for the exact block's host")
        XCTAssertTrue(two.admits(host: "x.test", onBlock: 1))
        XCTAssertFalse(two.admits(host: "x.test", onBlock: 0))
        XCTAssertFalse(two.admits(host: "example.org", onBlock: 0), "a host no block serves")
        XCTAssertFalse(two.admits(host: "example.org", onBlock: 1))
        XCTAssertTrue(two.admits(host: "", onBlock: 0), "no Host: the first block, as without SNI")
        XCTAssertFalse(two.admits(host: "", onBlock: 1))
        let one = ServerNameSelector(blocks: [["secure.test"]])
        XCTAssertTrue(
            one.admits(host: "anything.example", onBlock: 0), "one block: nothing to confuse; routing answers 404")
    }
}
