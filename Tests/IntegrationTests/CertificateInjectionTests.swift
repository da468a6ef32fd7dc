import Foundation
import TestSupport
import XCTest

/// Certificate names are bytes a CA signed, not text Tollgate wrote: a trusted client whose SANs carry
/// CR LF must not add headers upstream, split the access log, or become a principal.
final class CertificateInjectionTests: XCTestCase {
    func testCRLFInSubjectAltNamesInjectsNothing() throws {
        let adminPort = try Network.freePort()
        let harness = try GatewayHarness.running(mode: "MUTUAL", extraArguments: ["--admin", "127.0.0.1:\(adminPort)"])
        defer { harness.stop() }
        let result = try harness.curl("/headers", client: "injection-client-tls")
        XCTAssertEqual(result.status, 200, result.stderr)
        let body = result.body.lowercased()
        XCTAssertFalse(
            body.contains("\"x-injected\""), "a header made of the URI SAN reached the upstream: \(result.body)")
        XCTAssertTrue(result.body.contains("URI=spiffe://evil%0D%0Ax-injected: yes"), result.body)

        // One request, one access-log line, with no principal.
        try waitUntil(timeout: 10, "the access log line") {
            harness.gateway!.log.contains("\"GET /headers HTTP/1.1\" 200")
        }
        let lines = harness.gateway!.log.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertFalse(lines.contains { $0.hasPrefix("x-injected") }, harness.gateway!.log)
        let access = lines.filter { $0.contains("\"GET /headers HTTP/1.1\"") }
        XCTAssertEqual(access.count, 1)
        XCTAssertTrue(access.first?.hasSuffix("principal=-") ?? false, String(access.first ?? ""))

        try Network.waitForListening(adminPort)
        let metrics = try Command.run("curl", ["-sS", "http://127.0.0.1:\(adminPort)/stats/prometheus"]).stdout
        XCTAssertTrue(metrics.contains("istio_requests_total"), metrics)
        XCTAssertFalse(metrics.contains("\r") || metrics.contains("evil"), "a certificate name reached a metric label")
    }
}
