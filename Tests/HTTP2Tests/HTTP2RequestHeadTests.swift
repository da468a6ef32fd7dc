import HTTP1
import HTTP2
import TollgateCore
import XCTest

/// RFC 9113 §8.2–8.3 as checked on the fields nghttp2 hands over (it checks most of them first; these are
/// the second line, and what is Tollgate's own: Host against :authority, HTTP/1.1's target and Host rules).
final class HTTP2RequestHeadTests: XCTestCase {
    let pseudo = [(":method", "GET"), (":scheme", "https"), (":authority", "a.test"), (":path", "/")]

    func reason(_ fields: [(String, String)]) -> String? {
        do {
            _ = try HTTP2RequestHead.make(fields.map { (name: $0.0, value: $0.1) }, limits: HTTPLimits())
            return nil
        } catch { return error.reason }
    }

    func testWellFormedRequest() throws {
        let head = try HTTP2RequestHead.make(
            (pseudo + [("accept", "*/*"), ("content-length", "3")]).map { (name: $0.0, value: $0.1) },
            limits: HTTPLimits())
        XCTAssertEqual(head.headers["host"], "a.test")
        XCTAssertEqual(head.headers["content-length"], "3")
        XCTAssertEqual(head.version, .http2)
    }

    func testConnectionSpecificFieldsAreRefused() {
        for name in ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"] {
            XCTAssertEqual(reason(pseudo + [(name, "x")]), "connection-specific header field \(name)")
        }
        XCTAssertEqual(reason(pseudo + [("te", "gzip")]), "te other than trailers")
        XCTAssertNil(reason(pseudo + [("te", "trailers")]))
    }

    func testUppercaseNamesAndPseudoHeaderErrors() {
        XCTAssertEqual(reason(pseudo + [("X-Up", "1")]), "uppercase header field name")
        XCTAssertEqual(reason([("accept", "x")] + pseudo), "pseudo-header field after a regular field")
        XCTAssertEqual(reason(pseudo + [(":path", "/again")]), "repeated :path")
        XCTAssertEqual(reason(pseudo.filter { $0.0 != ":path" }), "missing or invalid :path")
        XCTAssertEqual(reason(pseudo.filter { $0.0 != ":method" }), "missing or invalid :method")
        XCTAssertEqual(reason(pseudo + [(":status", "200")]), "unsupported pseudo-header field :status")
        XCTAssertEqual(
            reason([(":method", "GET"), (":method", "GET"), (":scheme", "https"), (":path", "/")]), "repeated :method")
        XCTAssertEqual(reason([(":foo", "x")] + pseudo), "unsupported pseudo-header field :foo")
    }

    func testTargetAndAuthorityFollowHTTP11Rules() {
        XCTAssertEqual(reason(pseudo.map { $0.0 == ":path" ? ($0.0, "http://b.test/") : $0 }), "invalid :path")
        XCTAssertEqual(
            reason(pseudo.map { $0.0 == ":authority" ? ($0.0, "a.test/x") : $0 }), "missing or invalid :authority")
        XCTAssertEqual(reason(pseudo + [("host", "b.test")]), "Host header differs from :authority")
        XCTAssertNil(reason(pseudo + [("host", "a.test")]))
        XCTAssertEqual(reason(pseudo.filter { $0.0 != ":authority" }), "missing or invalid :authority")
        XCTAssertNil(reason(pseudo.filter { $0.0 != ":authority" } + [("host", "a.test")]))
        XCTAssertEqual(
            reason([(":method", "CONNECT"), (":authority", "a.test:443")]), "CONNECT is not served")
    }

    /// What HTTP/1.1's parser refuses in a field, an h2 stream may not carry either.
    /// RFC 8441 §4: CONNECT with `:protocol` (and :scheme, :path) is the HTTP/1.1 upgrade it stands for.
    func testExtendedConnectBecomesAnUpgrade() throws {
        let connect = [(":method", "CONNECT"), (":protocol", "websocket")] + pseudo.dropFirst()
        let head = try HTTP2RequestHead.make(
            (connect + [("sec-websocket-version", "13")]).map { (name: $0.0, value: $0.1) }, limits: HTTPLimits())
        XCTAssertEqual(head.method, "GET")
        XCTAssertEqual(head.target, "/")
        XCTAssertEqual(head.headers["connection"], "upgrade")
        XCTAssertEqual(head.headers["upgrade"], "websocket")
        XCTAssertEqual(try UpgradeRequest.classify(head), .websocket, "no key over HTTP/2")
        XCTAssertEqual(reason(pseudo + [(":protocol", "websocket")]), ":protocol on a method other than CONNECT")
        XCTAssertEqual(
            reason([(":method", "CONNECT"), (":protocol", "websocket, h2c")] + pseudo.dropFirst()),
            "invalid :protocol")
        XCTAssertEqual(reason([(":method", "CONNECT"), (":protocol", "")] + pseudo.dropFirst()), "invalid :protocol")
        XCTAssertEqual(reason(connect + [("upgrade", "websocket")]), "connection-specific header field upgrade")
    }

    func testFieldCharactersFollowHTTP11Rules() {
        XCTAssertEqual(reason(pseudo + [("x-a", "a\u{01}b")]), "control character in header value")
        XCTAssertEqual(reason(pseudo + [("x-a", "a\u{7F}")]), "control character in header value")
        XCTAssertEqual(reason(pseudo + [("x-a", " padded")]), "whitespace around a header value")
        XCTAssertEqual(reason(pseudo + [("x(a)", "v")]), "invalid header name")
        XCTAssertEqual(reason(pseudo + [("", "v")]), "invalid header name")
        XCTAssertNil(reason(pseudo + [("x-a", "tab\tinside")]))
    }

    func testFieldCountLimitIsHTTP11s() throws {
        let many = pseudo + (0..<100).map { ("x-\($0)", "v") }
        XCTAssertNil(reason(many))
        do {
            _ = try HTTP2RequestHead.make(
                (many + [("x-over", "v")]).map { (name: $0.0, value: $0.1) }, limits: HTTPLimits())
            XCTFail("101 fields accepted")
        } catch { XCTAssertEqual(error.status, 431) }
    }

    func testContentLengthMustBeOneNumber() {
        XCTAssertEqual(reason(pseudo + [("content-length", "1"), ("content-length", "2")]), "invalid Content-Length")
        XCTAssertEqual(reason(pseudo + [("content-length", "-1")]), "invalid Content-Length")
        XCTAssertNil(reason(pseudo + [("content-length", "5"), ("content-length", "5")]))
    }
}
