import TollgateCore
import XCTest

@testable import TollgateServer

final class AccessLogLineTests: XCTestCase {
    private func line(
        target: String = "/a", version: HTTPVersion = .http11, headers: [(String, String)]? = nil,
        userAgent: String = "ua", flags: ResponseFlags = [], routeName: String? = "default",
        serverName: String? = "example.test", principal: String? = "laptop"
    ) -> String {
        let head = RequestHead(
            method: "GET", target: target, version: version,
            headers: HTTPHeaders(headers ?? [("Host", "example.test"), ("User-Agent", userAgent)]))
        // Smaller than a line: growing the buffer is part of what is tested.
        var out = LogBytes(capacity: 16)
        ASCIIBytes.with("2026-12-03T16:00:00.000Z") { timestamp in
            AccessLog.appendLine(
                timestamp: timestamp, head: head, status: 200, flags: flags, details: "via_upstream", bytesReceived: 0,
                bytesSent: 2, durationMilliseconds: 1, requestID: "id-1", upstreamHost: "127.0.0.1:80",
                routeName: routeName, peer: "127.0.0.1:5000", serverName: serverName, principal: principal, to: &out)
        }
        return String(decoding: out.bytes, as: UTF8.self)
    }

    func testTheLineHasIstiosShapeAndEveryField() {
        XCTAssertEqual(
            line(headers: [
                ("host", "example.test:8443"), ("USER-AGENT", "curl/7.88.1"), ("X-Forwarded-For", "10.0.0.1"),
            ]),
            #"[2026-12-03T16:00:00.000Z] "GET /a HTTP/1.1" 200 - via_upstream 0 2 1 "10.0.0.1" "curl/7.88.1" "id-1" "#
                + #""example.test:8443" "127.0.0.1:80" default 127.0.0.1:5000 example.test principal=laptop"# + "\n")
    }

    func testMissingFieldsAreDashes() {
        XCTAssertEqual(
            line(
                version: .http2, headers: [], flags: [.noRouteFound, .upstreamRetryLimitExceeded], routeName: nil,
                serverName: nil, principal: nil),
            #"[2026-12-03T16:00:00.000Z] "GET /a HTTP/2" 200 NR,URX via_upstream 0 2 1 "-" "-" "id-1" "-" "#
                + #""127.0.0.1:80" - 127.0.0.1:5000 - principal=-"# + "\n")
        XCTAssertTrue(line(version: .http10).contains(#""GET /a HTTP/1.0""#))
        XCTAssertTrue(line(headers: [("User-Agent", "")]).contains(#" "-" "" "id-1" "-" "#))
    }

    /// Whatever follows the enrollment prefix may be a live token: it never reaches the log, wherever the
    /// prefix is in the target.
    func testAnEnrollmentTokenIsRedacted() {
        XCTAssertTrue(line(target: "/.tollgate/enroll/SECRET/bundle.p12").contains(#""GET /.tollgate/enroll/… HTTP"#))
        let absolute = line(target: "https://a.test/x/.tollgate/enroll/SECRET?q=1")
        XCTAssertTrue(absolute.contains(#""GET https://a.test/x/.tollgate/enroll/… HTTP"#), absolute)
        XCTAssertFalse(absolute.contains("SECRET"))
        XCTAssertTrue(line(target: "/.tollgate/enrol/x").contains(#""GET /.tollgate/enrol/x HTTP"#))
        let dotted = line(target: "/.tollgate/./enroll/SECRET")
        XCTAssertTrue(dotted.contains(#""GET /.tollgate/./enroll/… HTTP"#), dotted)
        XCTAssertFalse(line(target: "/%2Etollgate/%65nroll/SECRET").contains("SECRET"))
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
        let text = line(principal: "a\r\nb")
        XCTAssertTrue(text.hasSuffix("principal=a\\x0d\\x0ab\n"), text)
        XCTAssertTrue(line(principal: "\u{7F}\"").hasSuffix("principal=\\x7f\\x22\n"))
    }

    /// Bytes past ASCII are escaped too, as nginx's default log escaping does: U+2028, U+0085 and the like end
    /// a line for many log readers (`str.splitlines()`, some viewers), and a header may carry any of them.
    func testBytesPastASCIIAreEscapedSoNoReaderSeesANewLine() {
        let text = line(userAgent: "a\u{2028}b\u{85}c")
        XCTAssertTrue(text.contains(#" "a\xe2\x80\xa8b\xc2\x85c" "#), text)
        XCTAssertEqual(text.split(whereSeparator: \.isNewline).count, 1, text)
        XCTAssertTrue(line(principal: "é").hasSuffix("principal=\\xc3\\xa9\n"))
    }

    func testResponseFlagsReadAsEnvoysCodes() {
        XCTAssertEqual(ResponseFlags().description, "-")
        XCTAssertEqual(ResponseFlags([.downstreamRemoteReset, .noHealthyUpstream]).description, "UH,DR")
    }
}
