import Foundation
import TestSupport
import XCTest

/// Identity and header sanitizing is per stream what it is per HTTP/1.1 request: the same hostile request
/// over both protocols reaches the upstream the same way (or is refused with the same status).
final class HTTP2SanitizingTests: XCTestCase {
    var harness: GatewayHarness!

    override func setUpWithError() throws { harness = try GatewayHarness.running(mode: "MUTUAL") }

    override func tearDown() { harness?.stop() }

    /// The status, and what the upstream saw (target, path, headers) without the fields that differ per request.
    private func seen(_ path: String, _ headers: [String], http2: Bool) throws -> String {
        var arguments = ["--path-as-is", http2 ? "--http2" : "--http1.1", "-A", "probe"]
        for header in headers { arguments += ["-H", header] }
        let r = try harness.curl(path, arguments: arguments)
        guard r.status == 200,
            var object = try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any],
            let received = object["headers"] as? [String: Any]
        else { return "\(r.status)" }
        // HTTP/2 names are lowercase; repeated cookie lines are joined by the upstream (HTTP/1.1) or by the
        // gateway with "; " (RFC 9113 §8.2.3).
        var fields = Dictionary(received.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        for name in ["x-request-id", "x-envoy-attempt-count", "content-length", "cookie"] { fields[name] = nil }
        if let xfcc = fields["x-forwarded-client-cert"] as? String, !xfcc.hasPrefix("Hash=") { return "forged XFCC" }
        object["headers"] = fields
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return "200 " + String(decoding: data, as: UTF8.self)
    }

    func testHostileRequestsLookTheSameUpstreamOverBothProtocols() throws {
        let cases: [(path: String, headers: [String])] = [
            ("/anything", ["x-forwarded-client-cert: By=spiffe://forged;URI=spiffe://admin"]),
            ("/anything", ["x_forwarded_client_cert: URI=spiffe://admin", "x-forwarded_for: 6.6.6.6"]),
            ("/anything", ["x-forwarded-for: 6.6.6.6", "x-forwarded-proto: http", "x-envoy-internal: true"]),
            ("/anything", ["cookie: a=1", "cookie: b=2"]),
            ("/anything/../admin", []),
            ("/anything/%2e%2e/x", []),
            ("/anything/a%2fb?q=%00", []),
            ("//anything", []),
            ("/anything", ["x-envoy-original-path: /admin", "x-original-url: /admin"]),
        ]
        for (path, headers) in cases {
            let one = try seen(path, headers, http2: false)
            let two = try seen(path, headers, http2: true)
            XCTAssertEqual(one, two, "\(path) \(headers)")
            XCTAssertFalse(two.contains("forged") || two.contains("6.6.6.6"), "\(path) \(headers): \(two)")
        }
        let cookies = try harness.curl("/headers", arguments: ["--http2", "-H", "cookie: a=1", "-H", "cookie: b=2"])
        XCTAssertTrue(cookies.body.contains("\"a=1; b=2\""), cookies.body)
    }
}
