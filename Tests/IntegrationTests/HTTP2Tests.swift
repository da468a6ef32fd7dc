import Foundation
import TestSupport
import XCTest

/// HTTP/2 downstream (ALPN `h2`, RFC 9113) with real `curl --http2` and `nghttp`: each stream is planned,
/// authorized and forwarded like an HTTP/1.1 request, over the connection's client certificate.
final class HTTP2Tests: XCTestCase {
    var harness: GatewayHarness!

    override func tearDown() { harness?.stop() }

    private func start(policy: String? = nil, virtualService: String = Manifests.virtualService()) throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", virtualService)
        if let policy { try harness.write("policy.yaml", policy) }
        try harness.startGateway()
    }

    /// `curl --http2`; the protocol curl used is checked on every request (`%{http_version}` = 2).
    private func h2(
        _ path: String, _ arguments: [String] = [], client: String? = "jinsu-macbook-tls",
        host: String = Manifests.host,
        version: String = "2"
    ) throws -> CurlResult {
        let r = try harness.curl(
            path, host: host, client: client,
            arguments: ["--http2", "-w", "\n%{http_code} %{http_version}"] + arguments)
        XCTAssertEqual(r.exitCode, 0, r.stderr)
        XCTAssertTrue(r.stdoutTail.hasSuffix(" \(version)"), "protocol: \(r.stdoutTail)")
        return r
    }

    func testALPNPrefersH2AndAnHTTP11OnlyClientGetsHTTP11() throws {
        try start()
        func handshake(_ alpn: String) throws -> String {
            let r = try Command.run(
                "openssl",
                [
                    "s_client", "-connect", "127.0.0.1:\(harness.port())", "-servername", Manifests.host, "-alpn", alpn,
                    "-CAfile", harness.pki.caCertificate,
                ] + [
                    "-cert", harness.pki.path("jinsu-macbook-tls", "tls.crt"), "-key",
                    harness.pki.path("jinsu-macbook-tls", "tls.key"),
                ], input: Data(), timeout: 20)
            return r.stdout + r.stderr
        }
        XCTAssertTrue(try handshake("h2").contains("ALPN protocol: h2"))
        XCTAssertTrue(try handshake("http/1.1,h2").contains("ALPN protocol: h2"), "the server's preference")
        XCTAssertTrue(try handshake("http/1.1").contains("ALPN protocol: http/1.1"))
        XCTAssertTrue(try handshake("spdy/3").contains("no application protocol"))

        XCTAssertEqual(try h2("/get").status, 200)
        XCTAssertEqual(try h2("/get", ["--http1.1"], version: "1.1").status, 200)
    }

    /// RFC 9113 §9.2.2: TLS 1.2 with h2 needs an ephemeral AEAD suite. A block configured with a CBC suite
    /// serves TLS 1.2 clients HTTP/1.1 instead of an h2 they would refuse.
    func testTLS12WithANonAEADSuiteIsOfferedHTTP11() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write(
            "gw.yaml",
            Manifests.gateway(
                mode: "MUTUAL",
                extraTLS:
                    "\n        maxProtocolVersion: TLSV1_2\n        cipherSuites: [ECDHE-RSA-AES128-SHA, ECDHE-ECDSA-AES128-SHA, ECDHE-RSA-AES128-GCM-SHA256, ECDHE-ECDSA-AES128-GCM-SHA256]"
            ))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway()
        func handshake(_ cipher: String) throws -> String {
            let r = try Command.run(
                "openssl",
                [
                    "s_client", "-connect", "127.0.0.1:\(harness.port())", "-servername", Manifests.host, "-alpn",
                    "h2,http/1.1", "-tls1_2", "-cipher", cipher, "-CAfile", harness.pki.caCertificate,
                ], input: Data(), timeout: 20)
            return r.stdout + r.stderr
        }
        XCTAssertTrue(try handshake("ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA").contains("ALPN protocol: http/1.1"))
        XCTAssertTrue(
            try handshake("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256").contains("ALPN protocol: h2"))
    }

    func testRequestsAndLocalAnswersOverOneProtocol() throws {
        try start(
            policy: """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: deny-admin, namespace: istio-system}
                spec:
                  action: DENY
                  rules:
                  - to: [{operation: {paths: ["/admin*"]}}]
                """)
        let get = try h2("/headers")
        XCTAssertEqual(get.status, 200)
        XCTAssertTrue(get.body.contains("\"x-forwarded-client-cert\": \"Hash="), get.body)
        XCTAssertTrue(get.body.contains("URI=spiffe://jinsu-macbook\""), "XFCC carries the connection's identity")
        XCTAssertTrue(get.body.contains("\"x-forwarded-proto\": \"https\""), get.body)

        let denied = try h2("/admin/x")
        XCTAssertEqual(denied.status, 403)
        XCTAssertTrue(denied.body.hasPrefix("RBAC: access denied"), denied.body)

        // A client-supplied XFCC never reaches the upstream as sent.
        let forged = try h2("/headers", ["-H", "x-forwarded-client-cert: By=spiffe://forged;URI=spiffe://admin"])
        XCTAssertFalse(forged.body.contains("forged"), forged.body)

        let post = try h2("/anything", ["--data-binary", "hello h2"])
        XCTAssertEqual(post.status, 200)
        XCTAssertTrue(post.body.contains("hello h2"), post.body)

        let log = harness.gateway!.log
        XCTAssertTrue(log.contains("\"GET /headers HTTP/2\" 200"), log.suffix(3000).description)
        XCTAssertTrue(log.contains("\"GET /admin/x HTTP/2\" 403"), log.suffix(3000).description)
    }
}
