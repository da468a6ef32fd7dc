import Foundation
import TestSupport
import XCTest

/// How upstream responses are re-framed for the client: transfer codings other than `chunked` survive, and
/// statuses that never have content carry no framing headers (RFC 9112 §6.1, RFC 9110 §8.6).
final class ResponseFramingTests: XCTestCase {
    var harness: GatewayHarness!

    override func setUpWithError() throws {
        harness = try GatewayHarness.running(mode: "MUTUAL")
    }

    override func tearDown() { harness.stop() }

    func testAGzipTransferCodingReachesTheClient() throws {
        let result = try harness.curl("/gzip-chunked", arguments: ["-D", "/dev/stderr", "--tr-encoding"])
        XCTAssertEqual(result.status, 200, result.stderr)
        XCTAssertTrue(result.stderr.lowercased().contains("transfer-encoding: gzip, chunked"), result.stderr)
        XCTAssertEqual(result.body, "hello through a gzip transfer coding\n")
        // An HTTP/1.0 client cannot be sent a transfer coding; the gateway will not pass the bytes on unlabelled.
        let old = try harness.raw("GET /gzip-chunked HTTP/1.0\r\nHost: \(Manifests.host)\r\n\r\n", timeout: 10)
        XCTAssertTrue(old.hasPrefix("HTTP/1.1 502"), old)
        XCTAssertFalse(old.contains("\u{1f}\u{8b}"), old)
    }

    func testBodilessStatusesCarryNoFraming() throws {
        for (status, query) in [
            (204, "content-length=0"), (204, "transfer-encoding=chunked"), (304, "content-length=7"),
            (204, "content-length=5,5"),
        ] {
            let result = try harness.curl("/status/\(status)?\(query)", arguments: ["-D", "/dev/stderr"])
            XCTAssertEqual(result.status, status, result.stderr)
            let head = result.stderr.lowercased()
            XCTAssertFalse(head.contains("content-length"), "\(status) \(query): \(head)")
            XCTAssertFalse(head.contains("transfer-encoding"), "\(status) \(query): \(head)")
        }
        // The connection stays usable afterwards: no byte was promised that never comes.
        let urls = ["/status/204?content-length=0", "/uuid"].flatMap {
            ["-o", "/dev/null", "https://\(Manifests.host):\(harness.port())\($0)"]
        }
        let both = try Command.run(
            "curl",
            [
                "-sS", "--resolve", "\(Manifests.host):\(harness.port()):127.0.0.1",
                "--cacert", harness.pki.caCertificate,
            ] + harness.pki.clientArguments("jinsu-macbook-tls")
                + ["-w", "%{http_code}:%{num_connects}\n"] + urls)
        XCTAssertEqual(both.stdout, "204:1\n200:0\n", both.stderr)
        // HEAD keeps Content-Length: it is the size a GET would get.
        XCTAssertTrue(
            try harness.curl("/bytes/1000", arguments: ["-I"]).body.lowercased().contains("content-length: 1000"))
    }
}
