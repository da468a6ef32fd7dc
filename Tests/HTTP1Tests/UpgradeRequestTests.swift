import HTTP1
import TollgateCore
import XCTest

final class UpgradeRequestTests: XCTestCase {
    private func head(method: String = "GET", version: HTTPVersion = .http11, _ headers: [(String, String)])
        -> RequestHead
    {
        RequestHead(
            method: method, target: "/ws", version: version, headers: HTTPHeaders([("host", "a.test")] + headers))
    }

    private let websocket = [
        ("Connection", "keep-alive, Upgrade"), ("Upgrade", "websocket"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
    ]

    func testClassification() throws {
        XCTAssertEqual(try UpgradeRequest.classify(head(websocket)), .websocket)
        XCTAssertEqual(
            try UpgradeRequest.classify(
                head([
                    ("Connection", "upgrade"), ("Upgrade", "WebSocket"),
                    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
                ])),
            .websocket)
        XCTAssertEqual(
            try UpgradeRequest.classify(head([("Connection", "Upgrade"), ("Upgrade", "h2c")])), .other("h2c"))
        XCTAssertEqual(
            try UpgradeRequest.classify(head([("Upgrade", "websocket")])), .none, "Upgrade without Connection: upgrade")
        XCTAssertEqual(
            try UpgradeRequest.classify(head([("Connection", "upgrade")])), .none, "Connection: upgrade without Upgrade"
        )
    }

    func testMalformedWebSocketHandshakes() {
        func rejects(_ h: RequestHead, status: Int = 400, _ what: String) {
            XCTAssertThrowsError(try UpgradeRequest.classify(h), what) {
                XCTAssertEqual(($0 as? HTTPParseError)?.status, status, what)
            }
        }
        rejects(head(version: HTTPVersion(major: 1, minor: 0), websocket), "HTTP/1.0")
        rejects(head(method: "POST", websocket), "POST")
        rejects(head(websocket + [("Content-Length", "5")]), "a body")
        rejects(head(websocket + [("Transfer-Encoding", "chunked")]), "a chunked body")
        let withoutKey = websocket.filter { $0.0 != "Sec-WebSocket-Key" }
        rejects(head(withoutKey), "no key")
        rejects(head(withoutKey + [("Sec-WebSocket-Key", "c2hvcnQ=")]), "a key of 5 bytes")
        rejects(head(withoutKey + [("Sec-WebSocket-Key", "not base64!")]), "not base64")
        rejects(head(websocket + [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]), "two keys")
        rejects(
            head(websocket.filter { $0.0 != "Sec-WebSocket-Version" } + [("Sec-WebSocket-Version", "8")]), status: 426,
            "version 8")
    }
}
