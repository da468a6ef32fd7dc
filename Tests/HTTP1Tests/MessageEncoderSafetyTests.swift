import TollgateCore
import XCTest

@testable import HTTP1

/// The encoder is the last guard: whatever reached a header (a certificate name, a config value, a bug),
/// nothing it writes can end a line or the head early.
final class MessageEncoderSafetyTests: XCTestCase {
    func testUnsafeFieldsAreLeftOut() {
        let headers = HTTPHeaders([
            ("x-ok", "fine value"),
            ("x-forwarded-client-cert", "URI=spiffe://evil\r\nx-injected: yes"),
            ("x-lf", "a\nb"),
            ("x-nul", "a\u{0}b"),
            ("bad name", "v"),
            ("bad\r\nname", "v"),
            ("", "v"),
            ("x-last", "kept"),
        ])
        let text = String(
            decoding: MessageEncoder.encode(RequestHead(method: "GET", target: "/", headers: headers)), as: UTF8.self)
        XCTAssertEqual(text, "GET / HTTP/1.1\r\nx-ok: fine value\r\nx-last: kept\r\n\r\n")
        let response = String(
            decoding: MessageEncoder.encode(ResponseHead(status: 200, headers: headers)), as: UTF8.self)
        XCTAssertTrue(response.hasSuffix("\r\nx-ok: fine value\r\nx-last: kept\r\n\r\n"), response)
        XCTAssertFalse(response.contains("injected"))
    }

    func testTargetAndReasonCannotSplitTheStartLine() {
        let request = String(
            decoding: MessageEncoder.encode(
                RequestHead(method: "GET", target: "/a b\r\nHost: x", headers: HTTPHeaders())),
            as: UTF8.self)
        XCTAssertEqual(request, "GET /a%20b%0D%0AHost:%20x HTTP/1.1\r\n\r\n")
        let response = String(
            decoding: MessageEncoder.encode(ResponseHead(status: 200, reason: "OK\r\nx: y", headers: HTTPHeaders())),
            as: UTF8.self)
        XCTAssertEqual(response, "HTTP/1.1 200 OKx: y\r\n\r\n")
    }
}
