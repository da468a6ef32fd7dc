import TollgateTLS
import XCTest

final class WebSocketAcceptTests: XCTestCase {
    /// The worked example of RFC 6455 §1.3.
    func testTheRFCExample() {
        XCTAssertEqual(WebSocketAccept.value(forKey: "dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }
}
