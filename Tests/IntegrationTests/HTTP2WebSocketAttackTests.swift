import Foundation
import TestSupport
import XCTest

/// Attacks on WebSocket over HTTP/2 (RFC 8441) from a hostile client (Tests/Fixtures/h2/h2_websocket_attack.py
/// on PyPI's `h2`): what an extended CONNECT stream must never carry to the upstream, and what it must not cost.
final class HTTP2WebSocketAttackTests: XCTestCase {
    var harness: GatewayHarness!

    override func tearDown() { harness?.stop() }

    /// The walkthrough's host, MUTUAL; `/head/` goes to an upstream that sends back the head it received
    /// (head_echo_upstream.py), everything else to the demo upstream except `/admin*` and `/anything/admin*`, which are denied.
    private func start(
        extraArguments: [String] = [], fileLimit: Int? = nil, enrollment: Bool = false, mode: String = "MUTUAL"
    ) throws {
        try requireH2Probe()
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.startFixtureUpstream("h2/head_echo_upstream.py", name: "headecho")
        var gateway = Manifests.gateway(mode: mode)
        if enrollment {
            gateway = gateway.replacingOccurrences(
                of: "  name: mtls-gateway\n",
                with: "  name: mtls-gateway\n  annotations: {tollgate.io/enroll: \"true\"}\n")
        }
        try harness.write("gw.yaml", gateway)
        try harness.write(
            "vs.yaml",
            """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: server, namespace: istio-system}
            spec:
              hosts: [\(Manifests.host)]
              gateways: [istio-system/mtls-gateway]
              http:
              - match: [{uri: {prefix: /head/}}]
                route: [{destination: {host: headecho, port: {number: 80}}}]
              - route: [{destination: {host: server, port: {number: 80}}}]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: no-admin, namespace: istio-system}
            spec:
              action: DENY
              rules: [{to: [{operation: {paths: ['/admin*', '/anything/admin*']}}]}]
            """)
        try harness.startGateway(extraArguments: extraArguments, fileLimit: fileLimit)
    }

    private func attack(
        _ scenario: String, _ options: [String] = [], client: String? = "jinsu-macbook-tls", timeout: TimeInterval = 60
    ) throws -> [String: Any] {
        try h2Probe(
            harness, scenario, client: client, extra: options, timeout: timeout, script: "h2_websocket_attack.py")
    }

    /// A scenario that holds its tunnels while the test goes on (jinsu-macbook's certificate): its log says how
    /// far it got.
    private func attackSession(_ scenario: String, _ options: [String]) throws -> ManagedProcess {
        let session = try ManagedProcess(
            name: "h2ws-\(scenario)", executable: try Command.which("python3"),
            arguments: [
                Paths.repository.appendingPathComponent("Tests/Fixtures/h2/h2_websocket_attack.py").path, scenario,
                "--port", String(harness.port()), "--host", Manifests.host, "--ca", harness.pki.caCertificate,
                "--cert", harness.pki.path("jinsu-macbook-tls", "tls.crt"), "--key",
                harness.pki.path("jinsu-macbook-tls", "tls.key"),
            ] + options, logDirectory: harness.workDirectory)
        addTeardownBlock { session.stop() }
        return session
    }

    /// An upstream that answers an extended CONNECT with a 2xx of its own (no 101) did not open a tunnel: the
    /// client is not told 200 (RFC 8441 §5: a 2xx says the tunnel is open) but 502, and DATA it sends behind
    /// never reaches the upstream.
    func testAnUpstream2xxToAnExtendedConnectIsNotATunnel() throws {
        try start()
        let before = try harness.upstreamStats().requests
        let result = try attack("data_during_response", ["--path", "/bytes/1000000"])
        XCTAssertEqual(result["status"] as? Int, 502, "a 2xx tells an h2 client its tunnel is open: \(result)")
        XCTAssertEqual(result["smuggled_response"] as? Bool, false, "\(result)")
        XCTAssertEqual(result["next_status"] as? Int, 200, "the connection goes on: \(result)")
        // The upstream saw the first `/stats`, the handshake and the follow-up `/uuid`, nothing else.
        XCTAssertEqual(try harness.upstreamStats().requests - before, 3, "no smuggled request: \(result)")
    }

    /// An upstream that refuses the upgrade with a response whose body is still to come (here a 403 head with
    /// a length it never sends): DATA the client sends on the stream meanwhile is not a body (an extended
    /// CONNECT has none) and must never reach the upstream, where it would be a request of its own after the
    /// handshake, past the AuthorizationPolicy (`/anything/admin` is denied) and answered inside the 403's body.
    func testDataWhileTheUpstreamRefusesTheUpgradeNeverReachesIt() throws {
        try start()
        let before = try harness.upstreamStats().requests
        let result = try attack(
            "data_during_response", ["--path", "/status/403?content-length=100000", "--seconds", "3"])
        XCTAssertEqual(result["status"] as? Int, 403, "\(result)")
        XCTAssertEqual(result["smuggled_response"] as? Bool, false, "the DATA was a request upstream: \(result)")
        XCTAssertEqual(result["next_status"] as? Int, 200, "the connection goes on: \(result)")
        XCTAssertEqual(try harness.upstreamStats().requests - before, 3, "no smuggled request: \(result)")
    }

    /// Each h2 tunnel holds an upstream socket for as long as it is open, 100 of them on one connection: they
    /// take connection slots as client connections do, so a device cannot spend the descriptors the gateway
    /// keeps for itself. Under 96 descriptors (24 connections, 48 kept in reserve) a device that asks for 100
    /// tunnels gets what the slots allow and 503 for the rest, and the reload that revokes it still reads its
    /// files and ends its tunnels, whose slots are then free again.
    func testTunnelsTakeConnectionSlotsSoARevocationStillLoads() throws {
        try start(fileLimit: 96)
        let session = try attackSession("hold_many", ["--count", "100", "--seconds", "60"])
        try waitUntil(timeout: 40, "the tunnels to be answered") { session.log.contains("open ") }
        let opened = session.log.split(separator: "\n").first { $0.hasPrefix("open ") } ?? ""
        let count = Int(opened.split(separator: " ")[1]) ?? -1
        XCTAssertGreaterThan(count, 0, String(opened))
        XCTAssertLessThanOrEqual(count, 24, "tunnels beyond the connection slots: \(opened)")
        XCTAssertTrue(opened.hasSuffix(" 503"), String(opened))
        let reloads = harness.reloadCount
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL", credential: "crl-trust-tls"))
        try harness.waitForReload(after: reloads)
        try waitUntil(timeout: 15, "the revoked device's tunnels to end") { session.log.contains("ended \(count)") }
        XCTAssertFalse(harness.gateway!.log.contains("accepting paused"), "the gateway ran out of descriptors")
        XCTAssertTrue(
            harness.gateway!.log.contains("503 UO upstream_reset_before_response_started{overflow}"),
            "the refused tunnels' access log lines")
        // Their slots are free again: the other device connects and its extended CONNECT reaches the upstream.
        let other = try attack("data_during_response", ["--path", "/status/403"], client: "jinsu-iphone-tls")
        XCTAssertEqual(other["status"] as? Int, 403, "\(other)")
        XCTAssertEqual(other["next_status"] as? Int, 200, "\(other)")
    }

    /// What the gateway writes upstream for an extended CONNECT: its own key, one upgrade pair, the identity
    /// fields it sets (never the client's), whatever the client put in their place.
    func testTheUpstreamSeesOnlyTheGatewaysHandshakeAndIdentity() throws {
        try start()
        let result = try attack(
            "upstream_head",
            [
                "--path", "/head/x", "--protocol", "WebSocket",
                "--header", "x-forwarded-client-cert: By=spiffe://evil;URI=spiffe://evil/ns/admin/sa/root",
                "--header", "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==",
                "--header", "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                "--header", "x-forwarded-proto: http", "--header", "x-envoy-original-path: /admin",
            ])
        XCTAssertEqual(result["status"] as? Int, 200, "\(result)")
        let head = (result["head"] as? String ?? "").lowercased()
        let lines = head.components(separatedBy: "\r\n")
        func values(_ name: String) -> [String] {
            lines.filter { $0.hasPrefix(name + ":") }.map {
                String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces)
            }
        }
        XCTAssertEqual(lines.first, "get /head/x http/1.1", head)
        XCTAssertEqual(values("sec-websocket-key").count, 1, head)
        XCTAssertNotEqual(values("sec-websocket-key").first, "dghlihnhbxbszsbub25jzq==", "the client's key: \(head)")
        XCTAssertEqual(values("sec-websocket-accept"), [], "a request carries no accept: \(head)")
        XCTAssertEqual(values("upgrade"), ["websocket"], head)
        XCTAssertEqual(values("connection"), ["upgrade"], head)
        XCTAssertEqual(values("x-forwarded-proto"), ["https"], head)
        XCTAssertEqual(values("x-forwarded-client-cert").count, 1, head)
        XCTAssertFalse(head.contains("evil"), head)
        XCTAssertEqual(values("host"), [Manifests.host], head)
    }

    /// DATA sent right behind the extended CONNECT waits for the upstream's 101: the upstream's first read is
    /// the handshake alone, never the handshake with a request behind it.
    func testDataBeforeThe101IsHeldUntilTheUpstreamAgrees() throws {
        try start()
        let result = try attack("upstream_head", ["--path", "/head/early", "--early"])
        XCTAssertEqual(result["status"] as? Int, 200, "\(result)")
        let echoed = result["head"] as? String ?? ""
        XCTAssertTrue(echoed.hasPrefix("GET /head/early HTTP/1.1\r\n"), echoed)
        XCTAssertTrue(echoed.hasSuffix("\r\n\r\n"), "bytes went upstream with the handshake: \(echoed)")
        XCTAssertFalse(echoed.contains("/anything/admin"), echoed)
    }

    /// Tunnels reset by their client as soon as they open, 400 of them: rapid-reset protection still ends the
    /// connection, every tunnel's upstream socket and connection slot is given back (96 descriptors, so a leak
    /// would show), and the next client gets a tunnel.
    func testATunnelResetStormLeaksNothing() throws {
        let adminPort = try Network.freePort()
        try start(extraArguments: ["--admin", "127.0.0.1:\(adminPort)"], fileLimit: 96)
        let storm = try attack("reset_storm", ["--count", "400"])
        XCTAssertGreaterThan(storm["opened"] as? Int ?? 0, 0, "\(storm)")
        // nghttp2's reset rate limit (CVE-2023-44487) ends the connection with GOAWAY INTERNAL_ERROR.
        XCTAssertEqual(storm["goaway"] as? Int, 2, "\(storm)")
        XCTAssertLessThan(storm["answered"] as? Int ?? .max, 400, "\(storm)")
        func metric(_ name: String) -> String? {
            let text =
                (try? Command.run("curl", ["-sS", "http://127.0.0.1:\(adminPort)/stats/prometheus"]).stdout) ?? ""
            return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.map {
                String($0.split(separator: " ").last!)
            }
        }
        try waitUntil(timeout: 10, "every tunnel to end") { metric("tollgate_websocket_tunnels_active") == "0.0" }
        for _ in 0..<3 {
            let next = try attack("upstream_head", ["--path", "/head/after"], client: "jinsu-iphone-tls")
            XCTAssertEqual(next["status"] as? Int, 200, "after the storm: \(next) (storm: \(storm))")
        }
        XCTAssertFalse(harness.gateway!.log.contains("accepting paused"), "the gateway ran out of descriptors")
        print("reset storm: \(storm)")
    }

    /// A client that grants no window at all while 50 upstreams flood its tunnels: each stream keeps at most its
    /// high-water mark (256 KiB) and a read, its upstream paused; the gateway's memory stays bounded while the
    /// floods go on, and the tunnels end at the stream idle timeout (nothing moved).
    func testAClientThatGrantsNoWindowCannotMakeTheGatewayBufferAFlood() throws {
        try start(extraArguments: ["--stream-idle-timeout", "6"])
        func residentKiB() -> Int {
            let status =
                (try? String(
                    contentsOfFile: "/proc/\(harness.gateway!.process.processIdentifier)/status", encoding: .utf8))
                ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
        }
        XCTAssertEqual(try attack("upstream_head", ["--path", "/head/warm-up"])["status"] as? Int, 200)
        let before = residentKiB()
        let session = try attackSession(
            "stall", ["--count", "50", "--seconds", "20", "--path", "/head/flood/x"])
        try waitUntil(timeout: 40, "the tunnels to open") { session.log.contains("open ") }
        XCTAssertTrue(session.log.contains("open 50"), session.log)
        // Sampled while the floods run, until the idle timeout ends them.
        var peak = 0
        let until = Date().addingTimeInterval(4)
        while Date() < until {
            peak = max(peak, residentKiB() - before)
            usleep(200_000)
        }
        print("50 flooded tunnels, no client window: gateway RSS grew \(peak) KiB")
        XCTAssertLessThan(peak, 32 * 1024, "the gateway buffered the floods: \(peak) KiB")
        try waitUntil(timeout: 20, "the stream idle timeout to end them") {
            harness.gateway!.log.components(separatedBy: "101 SI stream_idle_timeout").count - 1 == 50
        }
    }

    /// Spellings of a denied path, odd pseudo-headers and fields that disagree: none opens a tunnel, none reaches
    /// the upstream, and the connection serves on.
    func testNoSpellingOfADeniedOrMalformedConnectOpensATunnel() throws {
        try start()
        let before = try harness.upstreamStats().requests
        let cases: [(String, [String])] = [
            ("dot segments", ["--path", "/ws/../admin/echo"]),
            ("escaped dot segments", ["--path", "/ws/%2e%2e/admin/echo"]),
            ("escaped slash", ["--path", "/admin%2Fecho"]),
            ("single dot", ["--path", "/./admin/echo"]),
            ("asterisk", ["--path", "*"]),
            ("absolute path", ["--path", "https://\(Manifests.host)/admin/echo"]),
            ("host disagrees", ["--path", "/ws/echo", "--header", "host: other.example"]),
            ("content-length", ["--path", "/ws/echo", "--header", "content-length: 5"]),
            ("upgrade field", ["--path", "/ws/echo", "--header", "upgrade: websocket"]),
            ("connection field", ["--path", "/ws/echo", "--header", "connection: upgrade"]),
        ]
        for (name, options) in cases {
            let result = try h2Probe(
                harness, "connect", extra: options, script: "h2_websocket.py")
            let status = result["status"] as? Int
            XCTAssertTrue(status == 403 || status == 400 || result["reset"] as? Int == 1, "\(name): \(result)")
            XCTAssertEqual(result["next_status"] as? Int, 200, "\(name): the connection goes on: \(result)")
        }
        XCTAssertEqual(try harness.upstreamStats().requests - before, cases.count + 1, "only the follow-up requests")
        XCTAssertFalse(harness.gateway!.log.contains("\" 101 "), "no tunnel opened")
    }

    /// A block that admits clients without a certificate for enrollment: such a client's extended CONNECT, to a
    /// route or to an enrollment link, is refused (403) and never reaches the upstream.
    func testAClientWithoutACertificateOpensNoTunnelOnAnEnrollmentBlock() throws {
        try start(enrollment: true)
        let before = try harness.upstreamStats().requests
        for path in ["/ws/echo", "/.tollgate/enroll/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"] {
            let result = try h2Probe(
                harness, "connect", client: nil, extra: ["--path", path], script: "h2_websocket.py")
            XCTAssertEqual(result["status"] as? Int, 403, "\(path): \(result)")
        }
        XCTAssertEqual(try harness.upstreamStats().requests - before, 1, "nothing reached the upstream")
        XCTAssertFalse(harness.gateway!.log.contains("\" 101 "), "no tunnel opened")
    }

    /// OPTIONAL_MUTUAL lets a client without a certificate open a tunnel; a reload to MUTUAL ends it (the
    /// connection was not verified the new way), so tightening a port cannot be outlived by a tunnel.
    func testATunnelWithoutACertificateEndsWhenThePortBecomesMutual() throws {
        try start(mode: "OPTIONAL_MUTUAL")
        let session = try ManagedProcess(
            name: "h2ws-anonymous", executable: try Command.which("python3"),
            arguments: [
                Paths.repository.appendingPathComponent("Tests/Fixtures/h2/h2_websocket.py").path, "hold", "--port",
                String(harness.port()), "--host", Manifests.host, "--ca", harness.pki.caCertificate, "--cert", "",
                "--key", "", "--hold", "30",
            ], logDirectory: harness.workDirectory)
        addTeardownBlock { session.stop() }
        try waitUntil(timeout: 15, "the anonymous tunnel to open") { session.log.contains("open") }
        let reloads = harness.reloadCount
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.waitForReload(after: reloads)
        try waitUntil(timeout: 10, "the tunnel to end") { session.log.contains("closed") }
        try waitUntil(timeout: 10, "its log line") {
            harness.gateway!.log.contains("\"GET /ws/echo HTTP/2\" 101 - downstream_verification_changed")
        }
    }
}
