import Foundation
import TestSupport
import XCTest

/// Behind an L4 balancer: the client's address comes from the PROXY header, and only the balancer
/// may send one.
final class ProxyProtocolTests: XCTestCase {
    private func request(_ harness: GatewayHarness, header: [UInt8]) throws -> String {
        let script = Paths.repository.appendingPathComponent("Tests/Fixtures/tls/proxied_client.py").path
        let pki = harness.pki
        let hex = header.map { String(format: "%02x", $0) }.joined()
        return try Command.run(
            "python3",
            [
                script, String(harness.port()), Manifests.host, pki.caCertificate,
                pki.path("jinsu-macbook-tls", "tls.crt"), pki.path("jinsu-macbook-tls", "tls.key"), hex,
            ],
            timeout: 20
        ).stdout
    }

    private let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    func testClientAddressComesFromTheHeader() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL", extraArguments: ["--proxy-protocol", "127.0.0.0/8"])
        defer { harness.stop() }
        let v1 = try request(harness, header: Array("PROXY TCP4 203.0.113.7 127.0.0.1 51234 443\r\n".utf8))
        XCTAssertTrue(v1.contains("HTTP/1.1 200") && v1.contains("x-forwarded-for=203.0.113.7"), v1)
        let v2 = try request(
            harness,
            header: signature + [0x21, 0x21, 0x00, 0x24] + [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11)
                + [0x09] + Array(repeating: 0, count: 15) + [0x01] + [0xC8, 0x05, 0x01, 0xBB])
        XCTAssertTrue(v2.contains("HTTP/1.1 200") && v2.contains("x-forwarded-for=2001:db8::9"), v2)
        let local = try request(harness, header: signature + [0x20, 0x00, 0x00, 0x00])
        XCTAssertTrue(
            local.contains("HTTP/1.1 200") && local.contains("x-forwarded-for=127.0.0.1"),
            "LOCAL keeps the socket's address: \(local)")
        try waitUntil(timeout: 10, "the access log") { harness.gateway!.log.contains("203.0.113.7:51234") }
    }

    func testNoHeaderOrABadOneIsClosed() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL", extraArguments: ["--proxy-protocol", "127.0.0.1"])
        defer { harness.stop() }
        XCTAssertTrue(try request(harness, header: []).hasPrefix("failed"), "TLS straight away, no header")
        XCTAssertTrue(
            try request(harness, header: Array("PROXY TCP4 999.0.0.1 127.0.0.1 1 443\r\n".utf8)).hasPrefix("failed"))
        XCTAssertTrue(try request(harness, header: signature + [0x21, 0x12, 0x00, 0x00]).hasPrefix("failed"), "UDP")
        XCTAssertTrue(
            try request(harness, header: Array("PROXY TCP4 203.0.113.7 127.0.0.1 1 443\r\n".utf8)).contains("200"),
            "a good one still works")
    }

    func testOnlyTheBalancerMaySpeakForClients() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL", extraArguments: ["--proxy-protocol", "10.0.0.0/8"])
        defer { harness.stop() }
        let spoofed = try request(harness, header: Array("PROXY TCP4 203.0.113.7 127.0.0.1 1 443\r\n".utf8))
        XCTAssertTrue(spoofed.hasPrefix("failed"), "a client outside the balancer's range is closed: \(spoofed)")
        try waitUntil(timeout: 10, "the refusal to be logged") {
            harness.gateway!.log.contains("not from a --proxy-protocol source")
        }
    }

    /// `ipBlocks` and `remoteIpBlocks` judge the client the header names, not the balancer.
    func testPoliciesJudgeTheClientFromTheHeader() throws {
        let harness = try GatewayHarness()
        defer { harness.stop() }
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.write(
            "policy.yaml",
            """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: blocked-range, namespace: istio-system}
            spec:
              action: DENY
              rules:
              - from: [{source: {ipBlocks: [203.0.113.0/24]}}]
              - from: [{source: {remoteIpBlocks: [198.51.100.0/24]}}]
            """)
        try harness.startGateway(extraArguments: ["--proxy-protocol", "127.0.0.1"])
        func status(from client: String) throws -> String {
            try request(harness, header: Array("PROXY TCP4 \(client) 127.0.0.1 51234 443\r\n".utf8))
        }
        XCTAssertTrue(try status(from: "203.0.113.7").contains("HTTP/1.1 403"), "ipBlocks")
        XCTAssertTrue(try status(from: "198.51.100.7").contains("HTTP/1.1 403"), "remoteIpBlocks")
        XCTAssertTrue(try status(from: "192.0.2.7").contains("HTTP/1.1 200"), "another client")
    }

    /// Interoperability with a real balancer: HAProxy in TCP mode with `send-proxy-v2`, the client on
    /// another loopback address than the balancer.
    func testBehindHAProxy() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL", extraArguments: ["--proxy-protocol", "127.0.0.1"])
        defer { harness.stop() }
        let balancer = try HAProxy(
            servers: [HAProxy.Server(name: "replica1", port: harness.port())], directory: harness.workDirectory)
        defer { balancer.stop() }
        let front = balancer.port
        let pki = harness.pki
        let result = try Command.run(
            "curl",
            [
                "-sS", "--interface", "127.0.0.2", "--resolve", "\(Manifests.host):\(front):127.0.0.1",
                "--cacert", pki.caCertificate,
            ] + pki.clientArguments("jinsu-macbook-tls")
                + ["https://\(Manifests.host):\(front)/headers"])
        XCTAssertTrue(
            result.stdout.lowercased().contains("\"x-forwarded-for\": \"127.0.0.2\""), result.stdout + result.stderr)
    }
}
