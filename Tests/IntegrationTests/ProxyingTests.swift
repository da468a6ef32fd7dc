import Foundation
import TestSupport
import XCTest

/// HTTP/1.1 forwarding through MUTUAL TLS: bodies both ways, framing, keep-alive, pipelining.
final class ProxyingTests: XCTestCase {
    var harness: GatewayHarness!

    override func setUpWithError() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway()
    }

    override func tearDown() { harness.stop() }

    private func sha256(_ path: String) throws -> String { try harness.sha256(path) }

    private func randomFile(bytes: Int) throws -> String { try harness.randomFile(bytes: bytes) }

    func testTenMebibyteUploadArrivesIntact() throws {
        let file = try randomFile(bytes: 10 << 20)
        let result = try harness.curl(
            "/sha256", arguments: ["--data-binary", "@\(file)", "-H", "content-type: application/octet-stream"])
        XCTAssertEqual(result.status, 200, result.stderr)
        XCTAssertTrue(result.body.contains("\"bytes\": \(10 << 20)"), result.body)
        XCTAssertTrue(result.body.contains(try sha256(file)), result.body)
    }

    func testChunkedUploadArrivesIntact() throws {
        let file = try randomFile(bytes: 3 << 20 + 17)
        let result = try harness.curl(
            "/sha256", arguments: ["--data-binary", "@\(file)", "-H", "Transfer-Encoding: chunked"])
        XCTAssertEqual(result.status, 200, result.stderr)
        XCTAssertTrue(result.body.contains(try sha256(file)), result.body)
    }

    func testTenMebibyteDownloadMatchesTheUpstream() throws {
        let viaGateway = harness.workDirectory.appendingPathComponent("via-gateway.bin").path
        let result = try harness.curl("/bytes/\(10 << 20)?seed=7", output: viaGateway)
        XCTAssertEqual(result.status, 200, result.stderr)
        let direct = harness.workDirectory.appendingPathComponent("direct.bin").path
        let upstreamPort = harness.upstreams["server"]!.port
        try Command.run("curl", ["-sS", "-o", direct, "http://127.0.0.1:\(upstreamPort)/bytes/\(10 << 20)?seed=7"])
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: viaGateway)[.size] as? Int, 10 << 20)
        XCTAssertEqual(try sha256(viaGateway), try sha256(direct))
    }

    func testChunkedAndCloseDelimitedResponsesAreReframed() throws {
        for path in ["/stream-bytes/200000", "/close-delimited/200000"] {
            let out = harness.workDirectory.appendingPathComponent("out.bin").path
            let result = try harness.curl(path, arguments: ["-D", "-"], output: out)
            XCTAssertEqual(result.status, 200, "\(path): \(result.stderr)")
            XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: out)[.size] as? Int, 200000, path)
        }
    }

    func testKeepAliveCarriesManyRequestsOnOneConnection() throws {
        let urls = (0..<20).map { _ in "https://\(Manifests.host):\(harness.port())/uuid" }
        let result = try Command.run(
            "curl",
            [
                "-sS", "--resolve", "\(Manifests.host):\(harness.port()):127.0.0.1", "--cacert",
                harness.pki.caCertificate,
            ]
                + harness.pki.clientArguments("jinsu-macbook-tls") + ["-w", "%{http_code}:%{num_connects}\n"] + urls)
        let lines = result.stdout.split(separator: "\n").filter { $0.hasPrefix("200:") || $0.hasPrefix("000:") }
        XCTAssertEqual(lines.count, 20, result.stderr)
        XCTAssertEqual(lines.first, "200:1")
        XCTAssertTrue(
            lines.dropFirst().allSatisfy { $0 == "200:0" }, "every later request must reuse the connection: \(lines)")
    }

    func testUpstreamConnectionsArePooled() throws {
        let before = try harness.upstreamStats().connections
        let urls = (0..<30).map { _ in "https://\(Manifests.host):\(harness.port())/uuid" }
        for _ in 0..<3 {
            _ = try Command.run(
                "curl",
                [
                    "-sS", "-o", "/dev/null", "--resolve", "\(Manifests.host):\(harness.port()):127.0.0.1",
                    "--cacert", harness.pki.caCertificate,
                ] + harness.pki.clientArguments("jinsu-macbook-tls") + urls)
        }
        // 90 requests over 3 client connections; the gateway has 2 loops, each with its own pool.
        let opened = try harness.upstreamStats().connections - before - 1  // minus this probe's own connection
        XCTAssertLessThanOrEqual(
            opened, 2, "upstream connections must be reused across requests and client connections")
        XCTAssertGreaterThanOrEqual(opened, 1)
    }

    func testExpectContinueIsAnsweredWithoutDelay() throws {
        let file = try randomFile(bytes: 2 << 20)
        // curl waits this long for `100 Continue` before sending the body anyway; the test's own bound is shorter.
        let result = try harness.curl(
            "/sha256",
            arguments: ["--data-binary", "@\(file)", "-H", "Expect: 100-continue", "--expect100-timeout", "60"],
            timeout: 20)
        XCTAssertEqual(result.status, 200, result.stderr)
        XCTAssertTrue(result.body.contains(try sha256(file)), result.body)
    }

    func testTLSSessionsResume() throws {
        let session = harness.workDirectory.appendingPathComponent("session.pem").path
        let common = [
            "s_client", "-connect", "127.0.0.1:\(harness.port())", "-servername", Manifests.host, "-tls1_2",
            "-CAfile", harness.pki.caCertificate, "-cert", harness.pki.path("jinsu-macbook-tls", "tls.crt"),
            "-key", harness.pki.path("jinsu-macbook-tls", "tls.key"),
        ]
        let first = try Command.run("openssl", common + ["-sess_out", session], input: Data(), timeout: 20)
        XCTAssertTrue(first.stdout.contains("New, TLSv1.2"), first.stdout)
        let second = try Command.run("openssl", common + ["-sess_in", session], input: Data(), timeout: 20)
        XCTAssertTrue(second.stdout.contains("Reused, TLSv1.2"), second.stdout)
    }

    func testHeadAndNoContentResponses() throws {
        let head = try harness.curl("/bytes/1000", arguments: ["-I"])
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(head.body.lowercased().contains("content-length: 1000"), head.body)
        let noContent = try harness.curl("/status/204")
        XCTAssertEqual(noContent.status, 204)
        XCTAssertEqual(noContent.body, "")
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        let h = Manifests.host
        let response = try harness.raw(
            "GET /status/201 HTTP/1.1\r\nHost: \(h)\r\n\r\nGET /status/202 HTTP/1.1\r\nHost: \(h)\r\nConnection: close\r\n\r\n"
        )
        let first = response.range(of: "HTTP/1.1 201")
        let second = response.range(of: "HTTP/1.1 202")
        XCTAssertNotNil(first, response)
        XCTAssertNotNil(second, response)
        if let first, let second { XCTAssertLessThan(first.lowerBound, second.lowerBound) }
    }

    func testAbsoluteFormTargetsUseTheirAuthority() throws {
        let h = Manifests.host
        let response = try harness.raw(
            "GET https://\(h)/anything/abs?q=1 HTTP/1.1\r\nHost: unknown.example.test\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(response.hasPrefix("HTTP/1.1 200"), response)
        XCTAssertTrue(response.contains("\"url\": \"/anything/abs?q=1\""), response)
        XCTAssertTrue(response.contains("\"Host\": \"\(h)\""), response)
    }

    func testSmugglingAttemptIsRejectedAndTheConnectionClosed() throws {
        let h = Manifests.host
        let attack =
            "POST /anything HTTP/1.1\r\nHost: \(h)\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /uuid HTTP/1.1\r\nHost: \(h)\r\n\r\n"
        let response = try harness.raw(attack)
        XCTAssertTrue(response.hasPrefix("HTTP/1.1 400"), response)
        XCTAssertTrue(response.lowercased().contains("connection: close"), response)
        XCTAssertFalse(response.contains("uuid"), "nothing after the rejected request may be served: \(response)")

        for bad in [
            "GET / HTTP/1.1\r\nHost: \(h)\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "GET / HTTP/1.1\r\nHost: \(h)\r\nX-Folded: a\r\n b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : \(h)\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: \(h)\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "GET / HTTP/1.1\r\n\r\n",
        ] {
            XCTAssertTrue(try harness.raw(bad).hasPrefix("HTTP/1.1 400"), bad)
        }
    }
}
