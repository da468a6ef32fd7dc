import Foundation
import TestSupport
import XCTest

/// A client refused on a `MUTUAL` port over h2 (TLS 1.3) gets HTTP_1_1_REQUIRED on its stream, never a
/// response: its handshake finished only so that it retries over HTTP/1.1 and receives the alert there
/// (Firefox drops an alert that arrives once it speaks h2; `BrowserTests` shows its error page).
final class HTTP2RefusalTests: XCTestCase {
    var harness: GatewayHarness!

    override func tearDown() { harness?.stop() }

    private func start() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway()
    }

    /// curl follows HTTP_1_1_REQUIRED with a new HTTP/1.1 connection, which the alert ends. A certificate that
    /// is presented and fails still fails the handshake itself, over h2 as over HTTP/1.1.
    func testMissingCertificateOverH2IsSentToHTTP11AndRefusedAndABadOneFailsTheHandshake() throws {
        try start()
        let missing = try harness.curl("/get", client: nil, arguments: ["-v", "--http2"])
        XCTAssertNotEqual(missing.exitCode, 0, missing.stderr)
        XCTAssertEqual(missing.status, 0, "no response at all")
        XCTAssertTrue(missing.stderr.contains("HTTP_1_1_REQUIRED"), missing.stderr)
        XCTAssertTrue(
            missing.stderr.contains("alert certificate required"), "the alert over HTTP/1.1: \(missing.stderr)")
        let untrusted = try harness.curl("/get", client: "rogue-client-tls", arguments: ["-v", "--http2"])
        XCTAssertNotEqual(untrusted.exitCode, 0, untrusted.stderr)
        XCTAssertEqual(untrusted.status, 0, "no response at all")
        XCTAssertTrue(untrusted.stderr.contains("alert unknown ca"), untrusted.stderr)
        XCTAssertFalse(untrusted.stderr.contains("HTTP_1_1_REQUIRED"), "never speaks h2: \(untrusted.stderr)")
        // The admitted client is still served over h2.
        let ok = try harness.curl("/get", arguments: ["--http2", "-w", "\n%{http_code} %{http_version}"])
        XCTAssertEqual(ok.status, 200, ok.stderr)
        XCTAssertTrue(ok.stdoutTail.hasSuffix(" 2"), ok.stdoutTail)
    }

    /// Only h2 on TLS 1.3 finishes a refused handshake: over HTTP/1.1, and on TLS 1.2 (where the alert comes
    /// before the client's handshake is over), the handshake itself fails, as before.
    func testHTTP11AndTLS12StillFailInTheHandshake() throws {
        try start()
        let cases: [(arguments: [String], alert: String)] = [
            (["--http1.1"], "alert certificate required"),
            (["--http2", "--tlsv1.2", "--tls-max", "1.2"], "alert handshake failure"),
        ]
        for (arguments, alert) in cases {
            let r = try harness.curl("/get", client: nil, arguments: ["-v"] + arguments)
            XCTAssertEqual(r.status, 0, "\(arguments)")
            XCTAssertTrue(r.stderr.contains(alert), "\(arguments): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("HTTP_1_1_REQUIRED"), "\(arguments): \(r.stderr)")
        }
    }
}

/// What a client without a certificate can still do on its h2 connection to a `MUTUAL` block: nothing but be
/// refused, a bounded number of times.
final class HTTP2RefusedClientTests: XCTestCase {
    var harness: GatewayHarness!

    override func setUpWithError() throws {
        try requireH2Probe()
        harness = try GatewayHarness.running(mode: "MUTUAL")
    }

    override func tearDown() { harness?.stop() }

    /// Not even an error response (a `431` for an oversized head, a `400` for a malformed one): every stream
    /// is HTTP_1_1_REQUIRED. And the connection is not a free stream factory: past one round of the
    /// concurrency limit it is closed with GOAWAY, however fast the client opens streams.
    func testARefusedClientGetsNoResponseAndABoundedNumberOfStreams() throws {
        let result = try h2Probe(harness, "refused_streams", client: nil)
        XCTAssertEqual(result["first_reset"] as? Int, 13, "HTTP_1_1_REQUIRED, not an answer: \(result)")
        XCTAssertNil(result["first_status"] as? Int, "\(result)")
        XCTAssertEqual((result["statuses"] as? [Int]) ?? [-1], [], "no response at all: \(result)")
        XCTAssertTrue(result["goaway"] as? Int != nil || result["closed"] as? Bool == true, "\(result)")
        XCTAssertLessThanOrEqual(result["refused"] as? Int ?? .max, 201, "\(result)")
        XCTAssertEqual(try harness.upstreamStats().inProgress, 0)
    }
}
