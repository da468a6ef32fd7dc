import XCTest

@testable import TollgateServer

final class AccessLogLineTests: XCTestCase {
    private func line(userAgent: String, principal: String = "laptop") -> String {
        let entry = AccessLog.Entry(
            method: "GET", path: "/a", protocolVersion: "HTTP/1.1", status: 200, flags: [], details: "via_upstream",
            bytesReceived: 0, bytesSent: 2, durationMilliseconds: 1, forwardedFor: "-", userAgent: userAgent,
            requestID: "id-1", authority: "example.test", upstreamHost: "127.0.0.1:80", routeName: "default",
            peer: "127.0.0.1:5000", serverName: "example.test", principal: principal)
        var out: [UInt8] = []
        AccessLog.append(entry, timestamp: Array("2026-12-03T16:00:00.000Z".utf8), to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A quote in the User-Agent must not end the quoted field: otherwise a client writes the request id,
    /// authority and upstream fields a log reader sees after it.
    func testAQuoteOrBackslashInAQuotedFieldIsEscaped() {
        let forged = line(userAgent: #"curl" "forged-id" "other.test\"#)
        XCTAssertTrue(
            forged.contains(#" "curl\x22 \x22forged-id\x22 \x22other.test\x5c" "id-1" "example.test" "#), forged)
        XCTAssertEqual(forged.filter { $0 == "\"" }.count, 12, "the request and five quoted fields, no more: \(forged)")
        XCTAssertEqual(forged.filter { $0 == "\n" }.count, 1)
    }

    func testAControlByteInAnUnquotedFieldIsEscaped() {
        let text = line(userAgent: "ua", principal: "a\r\nb")
        XCTAssertTrue(text.hasSuffix("principal=a\\x0d\\x0ab\n"), text)
    }
}
