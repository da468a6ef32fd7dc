import Foundation
import TestSupport
import XCTest

/// Requests an attacker (or a broken client) sends over mutual TLS: odd authorities, request ids, framing
/// headers in look-alike spellings, unknown HTTP versions, bytes that are not HTTP at all. Issue #17.
final class HostileRequestTests: XCTestCase {
    var harness: GatewayHarness!
    let h = Manifests.host

    override func setUpWithError() throws {
        harness = try GatewayHarness.running(mode: "MUTUAL")
    }

    override func tearDown() { harness.stop() }

    /// The JSON the demo upstream echoes for `/anything`, as it received the request.
    private func echoed(_ request: String) throws -> String {
        let response = try harness.raw(request)
        XCTAssertTrue(response.hasPrefix("HTTP/1.1 200"), response)
        return response
    }

    func testAbsoluteFormAuthorityIsCheckedLikeAHostHeader() throws {
        let response = try harness.raw(
            "GET http://evil\"<x>@a.test,b/abs HTTP/1.1\r\nHost: \(h)\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(response.hasPrefix("HTTP/1.1 400"), response)
        XCTAssertTrue(response.contains("invalid authority in request target"), response)
        let empty = try harness.raw("GET http:///abs HTTP/1.1\r\nHost: \(h)\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(empty.hasPrefix("HTTP/1.1 400"), empty)
        let fine = try echoed("GET HTTPS://\(h)/anything/abs HTTP/1.1\r\nHost: \(h)\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(fine.contains("\"Host\": \"\(h)\""), fine)
        XCTAssertFalse(harness.gateway!.log.contains("evil\""), harness.gateway!.log)
    }

    func testOnlyASaneClientRequestIDIsKept() throws {
        let long = String(repeating: "r", count: 300)
        for bad in ["a, b c", long, "{\"json\":1}"] {
            let response = try echoed(
                "GET /anything/rid HTTP/1.1\r\nHost: \(h)\r\nX-Request-Id: \(bad)\r\nConnection: close\r\n\r\n")
            XCTAssertFalse(response.contains(bad), "the raw id must not reach the upstream: \(response)")
            XCTAssertNotNil(
                response.lowercased().range(of: #""x-request-id": "[0-9a-f-]{36}""#, options: .regularExpression),
                response)
        }
        let kept = try echoed(
            "GET /anything/rid HTTP/1.1\r\nHost: \(h)\r\nX-Request-Id: client-42.b:7_x\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(kept.contains("\"X-Request-Id\": \"client-42.b:7_x\""), kept)
        let twice = try echoed(
            "GET /anything/rid HTTP/1.1\r\nHost: \(h)\r\nX-Request-Id: one\r\nX-Request-Id: two\r\nConnection: close\r\n\r\n"
        )
        XCTAssertFalse(twice.contains("\"one\"") || twice.contains("\"two\""), twice)
        let log = harness.gateway!.log
        XCTAssertFalse(log.contains("a, b c") || log.contains(long), "the raw id must not reach the log: \(log)")
        XCTAssertTrue(log.contains("client-42.b:7_x"), log)
    }

    func testContentLengthIsForwardedInCanonicalForm() throws {
        for declared in ["5, 5", "05", "5,5"] {
            let response = try echoed(
                "POST /anything/cl HTTP/1.1\r\nHost: \(h)\r\nContent-Length: \(declared)\r\nConnection: close\r\n\r\nhello"
            )
            XCTAssertTrue(response.contains("\"content-length\": \"5\""), "\(declared): \(response)")
            XCTAssertTrue(response.contains("\"data\": \"hello\""), response)
        }
        let conflicting = try harness.raw(
            "POST /anything/cl HTTP/1.1\r\nHost: \(h)\r\nContent-Length: 5, 6\r\n\r\nhello")
        XCTAssertTrue(conflicting.hasPrefix("HTTP/1.1 400"), conflicting)
    }

    func testUnderscoreSpellingsOfFramingAndIdentityHeadersAreDropped() throws {
        let lookalikes = [
            "Transfer_Encoding: chunked", "Content_Length: 5", "X_Forwarded_Client_Cert: By=spiffe://evil",
            "x_forwarded_for: 10.9.9.9", "X_Request_ID: forged", "keep_alive: 1", "proxy_connection: close",
            "x_envoy_original_path: /admin", "X-Forwarded_Proto: ftp",
        ]
        let request =
            "POST /anything/underscore HTTP/1.1\r\nHost: \(h)\r\nContent-Length: 2\r\n"
            + lookalikes.joined(separator: "\r\n")
            + "\r\nX_Custom_Header: kept\r\nHost_: not-a-host\r\nConnection: close\r\n\r\nhi"
        let response = try echoed(request)
        for header in lookalikes {
            let name = String(header.prefix { $0 != ":" })
            XCTAssertFalse(response.contains("\"\(name)\""), "\(name) must not reach the upstream: \(response)")
        }
        XCTAssertTrue(
            response.contains("\"X_Custom_Header\": \"kept\""), "other underscore names pass, as in Envoy: \(response)")
        XCTAssertTrue(response.contains("\"Host_\": \"not-a-host\""), "`host-` is not `host`: \(response)")
        XCTAssertTrue(response.contains("\"data\": \"hi\""), response)
        XCTAssertTrue(
            response.contains("\"x-forwarded-client-cert\": \"Hash="),
            "the gateway's own XFCC is still set: \(response)")
    }

    func testOnlyHTTP11AndHTTP10AreServed() throws {
        for version in ["HTTP/1.2", "HTTP/2.0", "HTTP/1.9"] {
            let response = try harness.raw("GET /anything HTTP/\(version.dropFirst(5))\r\nHost: \(h)\r\n\r\n")
            XCTAssertTrue(response.hasPrefix("HTTP/1.1 505 HTTP Version Not Supported"), "\(version): \(response)")
        }
        let noHost = try harness.raw("GET /anything HTTP/1.2\r\n\r\n")
        XCTAssertTrue(noHost.hasPrefix("HTTP/1.1 505"), noHost)
        let missingHost = try harness.raw("GET /anything HTTP/1.1\r\n\r\n")
        XCTAssertTrue(missingHost.hasPrefix("HTTP/1.1 400"), missingHost)
        XCTAssertTrue(
            try echoed("GET /anything/old HTTP/1.0\r\nHost: \(h)\r\n\r\n").contains("\"url\": \"/anything/old\""))
    }

    func testARequestLineThatCannotBeHTTPIsRefusedAtOnce() throws {
        // No newline: the gateway must not wait for the header timeout (60 s) to answer.
        for garbage in ["I'm not HTTP", "GET  /", "GET /x HTTQ", "\u{16}\u{03}\u{01}", "GET index.html HTTP/1.1"] {
            let started = Date()
            let response = try harness.raw(garbage, timeout: 10)
            XCTAssertTrue(response.hasPrefix("HTTP/1.1 400"), "\(garbage.debugDescription): \(response)")
            XCTAssertLessThan(Date().timeIntervalSince(started), 5, garbage.debugDescription)
        }
        XCTAssertEqual(try harness.curl("/uuid").status, 200)
    }
}
