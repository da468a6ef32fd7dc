import Foundation
import TestSupport
import XCTest

/// HTTP/2 downstream (ALPN `h2`, RFC 9113) with real `curl --http2`: each stream is planned,
/// authorized and forwarded like an HTTP/1.1 request, over the connection's client certificate.
final class HTTP2Tests: XCTestCase {
    var harness: GatewayHarness!

    override func tearDown() { harness?.stop() }

    static let denyAdmin = """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: deny-admin, namespace: istio-system}
        spec:
          action: DENY
          rules:
          - to: [{operation: {paths: ["/admin*"]}}]
        """

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

    /// `serve --no-http2`: ALPN offers only http/1.1, so curl speaks HTTP/1.1 and an h2-only client is refused.
    func testNoHTTP2FlagOffersOnlyHTTP11() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway(extraArguments: ["--no-http2"])
        XCTAssertEqual(try h2("/get", ["--http2"], version: "1.1").status, 200)
        let r = try Command.run(
            "openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(harness.port())", "-servername", Manifests.host, "-alpn", "h2",
                "-CAfile", harness.pki.caCertificate,
            ], input: Data(), timeout: 20)
        XCTAssertTrue((r.stdout + r.stderr).contains("no application protocol"), r.stdout + r.stderr)
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
        try start(policy: Self.denyAdmin)
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

    /// SIGTERM on an h2 connection with a stream in flight: GOAWAY, the stream finishes, the gateway exits 0.
    func testStreamInFlightFinishesOnSIGTERM() throws {
        try start()
        let slow = DispatchGroup()
        nonisolated(unsafe) var slowResult: CurlResult?
        let harness = self.harness!
        slow.enter()
        DispatchQueue.global().async {
            slowResult = try? harness.curl(
                "/delay/3", arguments: ["--http2", "-w", "\n%{http_code} %{http_version}"])
            slow.leave()
        }
        try waitUntil(timeout: 10, "the slow request to reach the upstream") {
            ((try? harness.upstreamStats().inProgress) ?? 0) >= 1
        }
        harness.gateway!.signal(SIGTERM)
        slow.wait()
        XCTAssertEqual(slowResult?.stdoutTail, "200 2", slowResult?.stderr ?? "")
        try waitUntil(timeout: 15, "the gateway to exit") { !harness.gateway!.process.isRunning }
        XCTAssertEqual(harness.gateway!.process.terminationStatus, 0)
        XCTAssertTrue(harness.gateway!.log.contains("connections.dropped=0"), harness.gateway!.log)
    }

    /// Bodies both ways over h2 (5 MiB each), with and without a length, and with `expect: 100-continue`.
    func testUploadAndDownloadArriveIntact() throws {
        try start()
        let file = try harness.randomFile(bytes: 5 << 20)
        let digest = try harness.sha256(file)
        let upload = try h2("/sha256", ["--data-binary", "@\(file)"])
        XCTAssertEqual(upload.status, 200)
        XCTAssertTrue(upload.body.contains(digest), upload.body)
        // No content-length: the body goes upstream chunked.
        let streamed = try h2("/sha256", ["-T", file, "-X", "POST", "-H", "content-length:"])
        XCTAssertTrue(streamed.body.contains(digest), streamed.body)
        let started = Date()
        let continued = try h2(
            "/sha256",
            ["--data-binary", "@\(file)", "-H", "Expect: 100-continue", "--expect100-timeout", "30"])
        XCTAssertTrue(continued.body.contains(digest), continued.body)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "100 Continue came without waiting for curl's timeout")

        let viaGateway = harness.workDirectory.appendingPathComponent("via-gateway.bin").path
        let download = try harness.curl(
            "/bytes/\(5 << 20)?seed=9", arguments: ["--http2", "-w", "\n%{http_code} %{http_version}"],
            output: viaGateway)
        XCTAssertEqual(download.stdoutTail, "200 2")
        let direct = harness.workDirectory.appendingPathComponent("direct.bin").path
        try Command.run(
            "curl",
            ["-sS", "-o", direct, "http://127.0.0.1:\(harness.upstreams["server"]!.port)/bytes/\(5 << 20)?seed=9"])
        XCTAssertEqual(try harness.sha256(viaGateway), try harness.sha256(direct))
    }

    /// Response framing for an h2 client: no transfer codings exist in HTTP/2, so `gzip, chunked` from the
    /// upstream is a 502 (never unlabelled gzip bytes); a 204 carries no content-length; HEAD keeps the length.
    func testUpstreamFramingIsTranslated() throws {
        try start()
        XCTAssertEqual(try h2("/gzip-chunked").status, 502)
        let noContent = try h2("/status/204?content-length=5", ["-i"])
        XCTAssertEqual(noContent.status, 204)
        XCTAssertFalse(noContent.body.lowercased().contains("content-length"), noContent.body)
        let head = try h2("/bytes/1234", ["-I"])
        XCTAssertTrue(head.body.contains("content-length: 1234"), head.body)
    }

    /// 50 requests multiplexed on one connection (one TLS handshake), each answered with its own body; a
    /// denied path and an allowed one on the same connection.
    func testFiftyConcurrentStreamsOnOneConnection() throws {
        try start(policy: Self.denyAdmin)
        let port = harness.port()
        var arguments =
            [
                "-sS", "--http2", "--parallel", "--parallel-max", "50", "--resolve",
                "\(Manifests.host):\(port):127.0.0.1",
                "--cacert", harness.pki.caCertificate,
            ] + harness.pki.clientArguments("jinsu-macbook-tls")
        for n in 0..<50 {
            let path = n == 49 ? "/admin/\(n)" : "/anything/\(n)"
            arguments += [
                "-o", harness.workDirectory.appendingPathComponent("stream-\(n).json").path,
                "https://\(Manifests.host):\(port)\(path)",
            ]
        }
        let run = try Command.run("curl", arguments, timeout: 60)
        XCTAssertEqual(run.exitCode, 0, run.stderr)
        for n in 0..<49 {
            let body = try String(
                contentsOf: harness.workDirectory.appendingPathComponent("stream-\(n).json"), encoding: .utf8)
            XCTAssertTrue(body.contains("\"path\": \"/anything/\(n)\""), "stream \(n): \(body)")
        }
        let denied = try String(
            contentsOf: harness.workDirectory.appendingPathComponent("stream-49.json"), encoding: .utf8)
        XCTAssertEqual(denied, "RBAC: access denied")
        // The access log is written off the loops in batches: wait (bounded) for the last lines.
        let gateway = harness.gateway!
        func streamLines() -> Int { gateway.log.components(separatedBy: " HTTP/2\" 200 ").count - 1 }
        try? waitUntil(timeout: 10, "49 access-log lines") { streamLines() >= 49 }
        XCTAssertEqual(streamLines(), 49, "an access-log line per stream")
        XCTAssertEqual(gateway.log.components(separatedBy: "tls handshake complete").count - 1, 1, "one connection")
    }

    /// Browsers coalesce connections across hosts that share a certificate: a stream whose :authority selects
    /// another TLS server block than the connection's gets 421 and never reaches a route.
    func testAuthorityOfAnotherServerBlockIs421() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write(
            "gw.yaml",
            """
            apiVersion: networking.istio.io/v1beta1
            kind: Gateway
            metadata: {name: mtls-gateway, namespace: istio-system}
            spec:
              servers:
              - hosts: ['secure.iso.test']
                port: {number: 443, name: https-0, protocol: HTTPS}
                tls: {mode: MUTUAL, credentialName: server-tls}
              - hosts: ['*.iso.test']
                port: {number: 443, name: https-1, protocol: HTTPS}
                tls: {mode: SIMPLE, credentialName: server-tls}
            """)
        try harness.write("vs.yaml", Manifests.virtualService(hosts: ["secure.iso.test", "*.iso.test"]))
        try harness.startGateway()
        // curl sends a Host header as :authority on h2; SNI stays the URL's host.
        let smuggled = try h2("/headers", ["-H", "Host: secure.iso.test"], client: nil, host: "x.iso.test")
        XCTAssertEqual(smuggled.status, 421, smuggled.body)
        XCTAssertFalse(smuggled.body.contains("\"headers\""), smuggled.body)
        let reverse = try h2("/headers", ["-H", "Host: x.iso.test"], host: "secure.iso.test")
        XCTAssertEqual(reverse.status, 421, reverse.body)
        XCTAssertEqual(try h2("/headers", host: "secure.iso.test").status, 200)
        XCTAssertEqual(try h2("/headers", client: nil, host: "x.iso.test").status, 200)
    }

    /// A large upload to an upstream that reads slowly: the gateway acknowledges DATA only as the upstream takes
    /// it, so the client waits and the gateway's memory stays flat instead of holding the body.
    func testUploadToASlowUpstreamKeepsGatewayMemoryBounded() throws {
        harness = try GatewayHarness()
        try harness.startFixtureUpstream("h2/slow_upstream.py", name: "slow", arguments: [String(16 << 20)])
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService(destination: "slow"))
        try harness.startGateway()
        let pid = harness.gateway!.process.processIdentifier
        @Sendable func residentKiB() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        let file = try harness.randomFile(bytes: 64 << 20)
        XCTAssertEqual(try h2("/warm-up", ["--data-binary", "x"]).status, 200)
        let baseline = residentKiB()
        let peak = LockedMaximum()
        let sampler = Thread {
            while !peak.stopped {
                peak.record(residentKiB())
                usleep(20_000)
            }
        }
        sampler.start()
        let upload = try h2("/upload", ["--data-binary", "@\(file)"])
        peak.stop()
        XCTAssertEqual(upload.status, 200, upload.body)
        XCTAssertTrue(upload.body.contains("\"bytes\": \(64 << 20)"), upload.body)
        print("HTTP/2 upload to a slow upstream: gateway RSS grew \(peak.value - baseline) KiB for 64 MiB")
        XCTAssertLessThan(
            peak.value - baseline, 24 << 10, "gateway RSS grew \((peak.value - baseline) >> 10) MiB for a 64 MiB upload"
        )
    }
}

/// The largest value recorded from another thread, and a stop flag for that thread.
final class LockedMaximum: @unchecked Sendable {
    private let lock = NSLock()
    private var maximum = 0
    private var done = false
    var value: Int { lock.withLock { maximum } }
    var stopped: Bool { lock.withLock { done } }
    func record(_ value: Int) { lock.withLock { maximum = max(maximum, value) } }
    func stop() { lock.withLock { done = true } }
}
