import HTTP1
import TollgateCore
import XCTest

/// The pure rules the gateway applies around the codec: request targets, re-framing responses for the
/// client, unread request bodies and the `Connection` field (issue #17).
final class ProxyingRulesTests: XCTestCase {
    func testRequestTargetForms() throws {
        XCTAssertEqual(try RequestTarget.parse("/a?b", method: "GET"), .origin("/a?b"))
        XCTAssertEqual(try RequestTarget.parse("*", method: "OPTIONS"), .asterisk)
        XCTAssertEqual(
            try RequestTarget.parse("http://a.test", method: "GET"), .absolute(authority: "a.test", originForm: "/"))
        XCTAssertEqual(
            try RequestTarget.parse("hTTpS://[::1]:8443?x=1", method: "GET"),
            .absolute(authority: "[::1]:8443", originForm: "/?x=1"))
        XCTAssertEqual(
            try RequestTarget.parse("https://a.test/p/q", method: "GET"),
            .absolute(authority: "a.test", originForm: "/p/q"))
        for bad in ["ftp://a/", "a.test/x", "http://", "http://a,b/", "http://a@b/"] {
            XCTAssertThrowsError(try RequestTarget.parse(bad, method: "GET"), bad)
        }
    }

    func testPreparedForProxying() {
        let head = RequestHead(
            method: "GET", target: "https://a.test/x?y",
            headers: HTTPHeaders([
                ("Host", "other.test"), ("Transfer_Encoding", "chunked"), ("X_Forwarded_Client_Cert", "By=evil"),
                ("X_Custom", "kept"),
                ("content_LENGTH", "5"), ("x_envoy_decorator", "v"),
            ]))
        let (prepared, dropped) = head.preparedForProxying()
        XCTAssertEqual(prepared.target, "/x?y")
        XCTAssertEqual(prepared.headers, HTTPHeaders([("Host", "a.test"), ("X_Custom", "kept")]))
        XCTAssertEqual(
            dropped, ["Transfer_Encoding", "X_Forwarded_Client_Cert", "content_LENGTH", "x_envoy_decorator"])
    }

    private func plan(
        _ status: Int, _ fields: [(String, String)], method: String = "GET", client: HTTPVersion = .http11
    ) throws -> ResponseFraming.Plan {
        try ResponseFraming.plan(
            ResponseHead(status: status, headers: HTTPHeaders(fields)), requestMethod: method, clientVersion: client)
    }

    func testOtherTransferCodingsSurviveReframing() throws {
        let gzip = try plan(200, [("Transfer-Encoding", "gzip, chunked"), ("Content-Type", "text/plain")])
        XCTAssertEqual(
            gzip.headers, HTTPHeaders([("Content-Type", "text/plain"), ("transfer-encoding", "gzip, chunked")]))
        XCTAssertTrue(gzip.chunked)
        let closeDelimitedGzip = try plan(200, [("Transfer-Encoding", "gzip")])
        XCTAssertEqual(closeDelimitedGzip.headers["transfer-encoding"], "gzip, chunked")
        XCTAssertTrue(closeDelimitedGzip.chunked)
        XCTAssertThrowsError(try plan(200, [("Transfer-Encoding", "gzip, chunked")], client: .http10)) { error in
            XCTAssertEqual((error as? HTTPParseError)?.status, 502)
        }
        let old = try plan(200, [("Transfer-Encoding", "chunked")], client: .http10)
        XCTAssertEqual(old, ResponseFraming.Plan(headers: HTTPHeaders(), chunked: false, delimitedByClose: true))
    }

    func testLengthsAndUnknownLengths() throws {
        XCTAssertEqual(try plan(200, [("Content-Length", "12")]).headers, HTTPHeaders([("content-length", "12")]))
        let unknown = try plan(200, [("Connection", "close")])
        XCTAssertEqual(unknown.headers, HTTPHeaders([("transfer-encoding", "chunked")]))
        XCTAssertTrue(try plan(200, [], client: .http10).delimitedByClose)
    }

    func testBodilessStatusesCarryNoFraming() throws {
        for status in [100, 103, 204, 304] {
            for fields in [[("Content-Length", "0")], [("Transfer-Encoding", "chunked")], [("Content-Length", "5, 5")]]
            {
                let p = try plan(status, fields + [("ETag", "\"x\"")])
                XCTAssertEqual(
                    p,
                    ResponseFraming.Plan(
                        headers: HTTPHeaders([("ETag", "\"x\"")]), chunked: false, delimitedByClose: false),
                    "\(status) \(fields)")
            }
        }
        XCTAssertEqual(
            try plan(200, [("Content-Length", "05")], method: "HEAD").headers, HTTPHeaders([("content-length", "5")]))
        XCTAssertEqual(try plan(200, [("Content-Length", "x")], method: "HEAD").headers, HTTPHeaders())
        XCTAssertEqual(try plan(200, [("Transfer-Encoding", "chunked")], method: "HEAD").headers, HTTPHeaders())
    }

    func testUnreadBodiesAreDrainedOnlyWhenSmallAndSent() {
        XCTAssertTrue(UnreadRequestBody.mayDrain(declaredLength: 0, bytesRead: 0, awaitingContinue: false))
        XCTAssertTrue(UnreadRequestBody.mayDrain(declaredLength: 65536, bytesRead: 10, awaitingContinue: false))
        XCTAssertFalse(UnreadRequestBody.mayDrain(declaredLength: 65537, bytesRead: 0, awaitingContinue: false))
        XCTAssertTrue(
            UnreadRequestBody.mayDrain(declaredLength: nil, bytesRead: 100, awaitingContinue: false),
            "chunked: drained up to the limit")
        XCTAssertFalse(UnreadRequestBody.mayDrain(declaredLength: nil, bytesRead: 70000, awaitingContinue: false))
        XCTAssertFalse(
            UnreadRequestBody.mayDrain(declaredLength: 5, bytesRead: 0, awaitingContinue: true),
            "a client waiting for 100 Continue may never send its body")
    }

    func testConnectionField() {
        XCTAssertEqual(HopByHop.connectionField(keepAlive: false, clientVersion: .http11), "close")
        XCTAssertEqual(HopByHop.connectionField(keepAlive: false, clientVersion: .http10), "close")
        XCTAssertNil(HopByHop.connectionField(keepAlive: true, clientVersion: .http11))
        XCTAssertEqual(HopByHop.connectionField(keepAlive: true, clientVersion: .http10), "keep-alive")
        XCTAssertTrue(HopByHop.wantsKeepAlive(HTTPHeaders([("Connection", "Keep-Alive")]), version: .http10))
        XCTAssertFalse(HopByHop.wantsKeepAlive(HTTPHeaders(), version: .http10))
    }
}
