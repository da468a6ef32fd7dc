import TollgateCore
import XCTest

final class PathNormalizerTests: XCTestCase {
    func testIstioBaseNormalization() throws {
        let cases: [(String, String)] = [
            ("/a/b", "/a/b"), ("/a/../b", "/b"), ("/a/./b", "/a/b"), ("/../../etc", "/etc"),
            ("/%2e%2e/admin", "/admin"),
            ("/a%2Fb", "/a%2Fb"), ("/a%2fb", "/a%2Fb"), ("/a\\..\\b", "/b"), ("/%41dmin", "/Admin"),
            ("//double", "//double"),
            ("/a/b/..", "/a/"), ("/a/.", "/a/"), ("/%7Euser", "/~user"), ("/%5C", "/%5C"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(try PathNormalizer.normalize(input), expected, input)
        }
    }

    func testEncodedNULIsRejected() {
        XCTAssertThrowsError(try PathNormalizer.normalize("/a%00b"))
    }

    /// Found by Fuzz/FuzzPathNormalizer: segments are split on the byte `/`, as the upstream splits them. Split
    /// on Swift Characters, a combining mark after `/` hid that separator, so `..` removed the wrong segment
    /// and normalizing was not idempotent.
    func testCombiningMarkAfterSlashDoesNotHideTheSeparator() throws {
        XCTAssertEqual(try PathNormalizer.normalize("/a/\u{0301}/../b"), "/a/b")
        XCTAssertEqual(try PathNormalizer.normalize("/\u{0301}/.."), "/")
        XCTAssertEqual(try PathNormalizer.normalize("\u{06E3}5."), "/\u{06E3}5.")
    }

    /// A `%` that does not start an escape would let one decoding pass make a new one (`%%32%65` becomes
    /// `%2e`), which the upstream decodes again into a dot segment the policy never saw. nginx answers 400.
    func testPercentNotFollowedByTwoHexDigitsIsRejected() {
        for path in ["/%%32%65%%32%65/admin", "/a%zz", "/100%", "/a%2", "/%%41"] {
            XCTAssertThrowsError(try PathNormalizer.normalize(path), path) { error in
                XCTAssertEqual((error as? PathNormalizer.Rejected)?.reason, "invalid percent-encoding in path", path)
            }
        }
    }

    func testNormalizingTwiceChangesNothing() throws {
        let inputs = [
            "/a/\u{0301}/../b", "\u{06E3}5.", "/a/%2e%2E/b", "/%2F%2e%2e", "/x/..%2f..", "//..//.", "/a\\%2e\\..", "*",
        ]
        for input in inputs {
            let once = try PathNormalizer.normalize(input)
            XCTAssertEqual(try PathNormalizer.normalize(once), once, input.debugDescription)
        }
    }
}
