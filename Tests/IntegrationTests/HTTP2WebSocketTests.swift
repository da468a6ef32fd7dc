import Foundation
import TestSupport
import XCTest

/// WebSocket over HTTP/2 (RFC 8441): extended CONNECT from a raw client (Tests/Fixtures/h2/h2_websocket.py on
/// PyPI's `h2`) bridged to the demo upstream's HTTP/1.1 `/ws/echo`, and what a hostile client tries instead.
final class HTTP2WebSocketTests: XCTestCase {
    var harness: GatewayHarness!
    var badAccept: ManagedProcess!
    let appsHost = "app.iso.test"

    override func tearDown() { harness?.stop() }

    /// Two blocks on one port: the walkthrough's host, MUTUAL with enrollment and a whoami page, and `appsHost`,
    /// MUTUAL without enrollment (a client without a certificate is refused over h2 there). `/ws/` and `/` go to
    /// the demo upstream, `/bad-accept/` to an upstream whose 101 carries a wrong accept; `/admin*` is denied.
    private func start(extraArguments: [String] = []) throws {
        try requireH2Probe()
        harness = try GatewayHarness()
        try harness.startUpstream()
        badAccept = try harness.startFixtureUpstream("h2/bad_accept_upstream.py", name: "bad")
        try harness.write("gw.yaml", gateways(credential: "server-tls"))
        try harness.write(
            "vs.yaml",
            """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: server, namespace: istio-system}
            spec:
              hosts: [\(Manifests.host), \(appsHost)]
              gateways: [istio-system/mtls-gateway, istio-system/apps]
              http:
              - match: [{uri: {prefix: /bad-accept/}}]
                route: [{destination: {host: bad, port: {number: 80}}}]
              - match: [{uri: {prefix: /direct}}]
                directResponse: {status: 200, body: {string: "direct"}}
              - route: [{destination: {host: server, port: {number: 80}}}]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: no-admin, namespace: istio-system}
            spec:
              action: DENY
              rules: [{to: [{operation: {paths: ['/admin*']}}]}]
            """)
        try harness.startGateway(extraArguments: extraArguments)
    }

    /// The two blocks' Gateways; the walkthrough host's block verifies clients with `credential`'s CA (and CRL).
    private func gateways(credential: String) -> String {
        """
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: mtls-gateway
          namespace: istio-system
          annotations: {tollgate.io/enroll: "true", tollgate.io/whoami-path: /.tollgate/whoami}
        spec:
          servers:
          - hosts: [\(Manifests.host)]
            port: {number: 443, name: https, protocol: HTTPS}
            tls: {mode: MUTUAL, credentialName: \(credential)}
        ---
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: apps, namespace: istio-system}
        spec:
          servers:
          - hosts: [\(appsHost)]
            port: {number: 443, name: https-apps, protocol: HTTPS}
            tls: {mode: MUTUAL, credentialName: server-tls}
        """
    }

    private var pings: URL { harness.workDirectory.appendingPathComponent("pings") }

    /// A tunnel held open by `client` (h2_websocket.py `hold`): it logs "open", echoes each `ping(K)` as
    /// "echoed K", and logs "closed" when the gateway ends its stream or connection.
    private func holdingSession(_ client: String) throws -> ManagedProcess {
        try FileManager.default.createDirectory(at: pings, withIntermediateDirectories: true)
        let session = try ManagedProcess(
            name: "h2ws-\(client)", executable: try Command.which("python3"),
            arguments: [
                Paths.repository.appendingPathComponent("Tests/Fixtures/h2/h2_websocket.py").path, "hold", "--port",
                String(harness.port()), "--host", Manifests.host, "--ca", harness.pki.caCertificate, "--cert",
                harness.pki.path(client, "tls.crt"), "--key", harness.pki.path(client, "tls.key"), "--pings",
                pings.path,
            ], logDirectory: harness.workDirectory)
        addTeardownBlock { session.stop() }
        return session
    }

    private func ping(_ number: Int) {
        _ = FileManager.default.createFile(atPath: pings.appendingPathComponent("ping-\(number)").path, contents: nil)
    }

    private func ws(
        _ scenario: String, _ options: [String] = [], client: String? = "jinsu-macbook-tls", timeout: TimeInterval = 60
    ) throws -> [String: Any] {
        try h2Probe(harness, scenario, client: client, extra: options, timeout: timeout, script: "h2_websocket.py")
    }

    private func accessLogLines(_ marker: String) -> [Substring] {
        harness.gateway!.log.split(separator: "\n").filter { $0.contains(marker) }
    }

    /// The server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL; the handshake opens a tunnel answered 200 with
    /// the upstream's subprotocol and no HTTP/1.1 upgrade fields; messages, ping and the close handshake go both
    /// ways; the upstream's close ends the stream (END_STREAM, then a reset with NO_ERROR since this client does
    /// not end its side, as Firefox does not); one access log line says HTTP/2, and the metrics count it.
    func testHandshakeAndEchoOverH2() throws {
        let adminPort = try Network.freePort()
        try start(extraArguments: ["--admin", "127.0.0.1:\(adminPort)"])
        let result = try ws("connect", ["--header", "sec-websocket-protocol: chat, superchat"])
        XCTAssertEqual(result["advertised"] as? Int, 1, "\(result)")
        XCTAssertEqual(result["status"] as? Int, 200, "\(result)")
        let headers = result["headers"] as? [String: String] ?? [:]
        XCTAssertEqual(headers["sec-websocket-protocol"], "chat", "\(result)")
        for name in ["sec-websocket-accept", "upgrade", "connection", "content-length"] {
            XCTAssertNil(headers[name], "\(name) in \(result)")
        }
        XCTAssertEqual(result["echoed"] as? [String], ["hello over h2", "second message"], "\(result)")
        XCTAssertEqual(result["pong"] as? Bool, true, "\(result)")
        XCTAssertEqual(result["close"] as? Int, 1000, "\(result)")
        XCTAssertEqual(result["ended"] as? Bool, true, "the upstream's EOF is END_STREAM: \(result)")
        XCTAssertEqual(result["reset"] as? Int, 0, "then RST_STREAM NO_ERROR, the client not having ended: \(result)")
        XCTAssertEqual(result["next_status"] as? Int, 200, "\(result)")
        try waitUntil(timeout: 10, "the tunnel's access log line") {
            !accessLogLines("\"GET /ws/echo HTTP/2\" 101 - via_upstream").isEmpty
        }
        let logged = accessLogLines("\"GET /ws/echo HTTP/2\" 101")
        XCTAssertEqual(logged.count, 1, "one line per tunnel")
        XCTAssertTrue(logged[0].hasSuffix("principal=jinsu-macbook"), String(logged[0]))
        let metrics = try Command.run("curl", ["-sS", "http://127.0.0.1:\(adminPort)/stats/prometheus"]).stdout
        let lines = metrics.split(separator: "\n")
        XCTAssertTrue(lines.contains("tollgate_websocket_upgrades_total 1"), metrics)
        XCTAssertTrue(lines.contains("tollgate_websocket_tunnels_active 0.0"), metrics)
    }

    /// What must never open a tunnel: CONNECT without `:protocol` (no TCP proxy), a protocol other than
    /// websocket, `:protocol` on GET, the wrong WebSocket version, a denied path (with bytes sent behind the
    /// handshake that must not reach the upstream), gateway pages that would answer 200, and an upstream
    /// whose 101 does not answer the gateway's key. The connection goes on serving after each.
    func testWhatMustNotOpenATunnel() throws {
        try start()
        let requestsBefore = try harness.upstreamStats().requests
        let cases: [(String, [String], (Int?, Int?) -> Bool)] = [
            ("plain CONNECT", ["--protocol", ""], { status, _ in status == 501 }),
            ("h2c", ["--protocol", "h2c"], { status, _ in status == 403 }),
            ("other protocol", ["--protocol", "connect-udp"], { status, _ in status == 403 }),
            ("protocol on GET", ["--method", "GET"], { status, reset in status == 400 || reset == 1 }),
            ("version 8", ["--version", "8"], { status, _ in status == 426 }),
            ("no version", ["--version", ""], { status, _ in status == 426 }),
            ("denied", ["--path", "/admin/ws/echo", "--smuggle"], { status, _ in status == 403 }),
            (
                "enrollment link", ["--path", "/.tollgate/enroll/abcdefghijklmnopqrstuv"],
                { status, _ in status == 403 }
            ),
            ("whoami", ["--path", "/.tollgate/whoami"], { status, _ in status == 403 }),
            ("direct response 200", ["--path", "/direct"], { status, _ in status == 403 }),
            ("wrong accept", ["--path", "/bad-accept/x"], { status, _ in status == 502 }),
            ("a 200 that switched nothing", ["--path", "/status/200"], { status, _ in status == 502 }),
        ]
        for (name, options, expected) in cases {
            let result = try ws("connect", options)
            let status = result["status"] as? Int
            XCTAssertTrue(expected(status, result["reset"] as? Int), "\(name): \(result)")
            XCTAssertNotEqual(status, 200, "\(name) opened a tunnel: \(result)")
            XCTAssertEqual(result["next_status"] as? Int, 200, "\(name): the connection goes on: \(result)")
        }
        let version = try ws("connect", ["--version", "8"])
        XCTAssertEqual((version["headers"] as? [String: String])?["sec-websocket-version"], "13", "\(version)")
        let denied = try ws("connect", ["--path", "/admin/ws/echo", "--smuggle"])
        XCTAssertEqual(denied["body"] as? String, "RBAC: access denied", "\(denied)")
        // The upstream saw the 14 `/uuid` requests after each case, the `/status/200` upgrade, its own stats probe,
        // and nothing else: no CONNECT, no smuggled request (the wrong-accept handshake went to the other upstream).
        XCTAssertEqual(try harness.upstreamStats().requests - requestsBefore, 14 + 1 + 1, "only those requests")
        XCTAssertFalse(harness.gateway!.log.contains("/admin/secret"), "the smuggled bytes were never a request")
        XCTAssertTrue(accessLogLines("\" 101 ").isEmpty, "no tunnel opened")
    }

    /// An upstream that refuses the upgrade with a response whose body is slow: DATA the client sends meanwhile
    /// is dropped, never written to that HTTP/1.1 connection (where it would be a request pipelined behind the
    /// upgrade).
    func testDataAfterTheUpstreamRefusedNeverReachesIt() throws {
        try start()
        let result = try ws("connect", ["--path", "/bad-accept/refuse", "--smuggle-after"])
        XCTAssertEqual(result["status"] as? Int, 400, "\(result)")
        XCTAssertEqual(result["body"] as? String, "refused\n", "\(result)")
        XCTAssertEqual(result["next_status"] as? Int, 200, "\(result)")
        XCTAssertFalse(badAccept.log.contains("after the refusal"), badAccept.log)
    }

    /// A client without a certificate on a MUTUAL block without enrollment gets HTTP_1_1_REQUIRED for its
    /// extended CONNECT as for every stream; an `:authority` of the other block is 421.
    func testRefusedClientAndAnotherBlocksAuthority() throws {
        try start()
        let refused = try ws("connect", ["--host", appsHost], client: nil)
        XCTAssertEqual(refused["reset"] as? Int, 13, "\(refused)")
        XCTAssertNil(refused["status"] as? Int, "\(refused)")
        let misdirected = try ws("connect", ["--authority", appsHost])
        XCTAssertEqual(misdirected["status"] as? Int, 421, "\(misdirected)")
        XCTAssertTrue(accessLogLines("\" 101 ").isEmpty, "no tunnel opened")
    }

    /// A refused handshake, or a refused upload, whose client goes on sending DATA: read and dropped up to
    /// 64 KiB as over HTTP/1.1, then the stream is reset (NO_ERROR: its response is complete); the connection
    /// serves on.
    func testDataAfterARefusedRequestIsCapped() throws {
        try start()
        for options in [["--path", "/admin/ws"], ["--path", "/admin/upload", "--method", "POST", "--protocol", ""]] {
            let result = try ws("flood_after_refusal", options)
            XCTAssertEqual(result["status"] as? Int, 403, "\(options): \(result)")
            XCTAssertEqual(result["reset"] as? Int, 0, "\(options): \(result)")
            XCTAssertLessThan(result["sent"] as? Int ?? Int.max, 1 << 20, "\(options): \(result)")
            XCTAssertEqual(result["next_status"] as? Int, 200, "\(options): \(result)")
        }
    }

    func testTwoTunnelsAndRequestsOnOneConnection() throws {
        try start()
        let result = try ws("multiplex")
        XCTAssertEqual(result["statuses"] as? [Int], [200, 200, 200, 200], "\(result)")
        XCTAssertEqual(result["a"] as? [String], (0..<10).map { "a-\($0)" }, "\(result)")
        XCTAssertEqual(result["b"] as? [String], (0..<10).map { "b-\($0)" }, "\(result)")
        XCTAssertEqual(result["ended"] as? [Bool], [true, true], "\(result)")
        try waitUntil(timeout: 10, "two tunnel lines") { accessLogLines("\"GET /ws/echo HTTP/2\" 101").count == 2 }
    }

    /// 32 MiB each way through one tunnel: the gateway acknowledges DATA as the upstream takes it and reads the
    /// upstream as the stream's window drains, so its peak memory stays far below the message.
    func testALargeMessageIsStreamedNotBuffered() throws {
        try start()
        func peakResidentKiB() throws -> Int {
            let status = try String(
                contentsOfFile: "/proc/\(harness.gateway!.process.processIdentifier)/status", encoding: .utf8)
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
        }
        XCTAssertEqual(try ws("large", ["--megabytes", "1"])["same"] as? Bool, true)
        let before = try peakResidentKiB()
        let result = try ws("large", ["--megabytes", "32"], timeout: 180)
        XCTAssertEqual(result["same"] as? Bool, true, "\(result)")
        XCTAssertEqual(result["ended"] as? Bool, true, "\(result)")
        let growth = try peakResidentKiB() - before
        print("WebSocket over h2, 32 MiB each way: gateway peak RSS grew \(growth) KiB")
        XCTAssertLessThan(growth, 16 * 1024, "peak memory grew by \(growth) KiB for 32 MiB each way")
    }

    /// `--stream-idle-timeout` ends a tunnel that carries nothing, with its one access log line.
    func testAnIdleTunnelEndsAtTheStreamIdleTimeout() throws {
        try start(extraArguments: ["--stream-idle-timeout", "2"])
        let result = try ws("idle")
        XCTAssertEqual(result["status"] as? Int, 200, "\(result)")
        XCTAssertNotNil(result["reset"] as? Int, "\(result)")
        XCTAssertLessThan(result["seconds"] as? Double ?? 99, 10, "\(result)")
        try waitUntil(timeout: 10, "the tunnel's line") {
            !accessLogLines("\"GET /ws/echo HTTP/2\" 101 SI stream_idle_timeout").isEmpty
        }
    }

    /// A reload that leaves client verification alone keeps h2 tunnels; one that revokes a device (a CRL naming
    /// jinsu-macbook) ends that device's connection, its tunnel with it, and leaves the other device's.
    func testReloadEndsOnlyTunnelsVerifiedTheOldWay() throws {
        try start()
        var sessions: [String: ManagedProcess] = [:]
        for device in ["jinsu-macbook-tls", "jinsu-iphone-tls"] { sessions[device] = try holdingSession(device) }
        try waitUntil(timeout: 15, "both sessions to open") { sessions.values.allSatisfy { $0.log.contains("open") } }
        var reloads = harness.reloadCount
        try harness.write("gw.yaml", gateways(credential: "server-tls") + "\n# unrelated\n")
        try harness.waitForReload(after: reloads)
        ping(1)
        try waitUntil(timeout: 10, "both sessions to echo after an unrelated reload") {
            sessions.values.allSatisfy { $0.log.contains("echoed 1") }
        }
        reloads = harness.reloadCount
        try harness.write("gw.yaml", gateways(credential: "crl-trust-tls"))
        try harness.waitForReload(after: reloads)
        try waitUntil(timeout: 10, "the revoked device's tunnel to close") {
            sessions["jinsu-macbook-tls"]!.log.contains("closed")
        }
        ping(2)
        try waitUntil(timeout: 10, "the other device to echo") {
            sessions["jinsu-iphone-tls"]!.log.contains("echoed 2")
        }
        XCTAssertFalse(sessions["jinsu-iphone-tls"]!.log.contains("closed"))
        try waitUntil(timeout: 10, "the closed tunnel's log line") {
            !accessLogLines("\"GET /ws/echo HTTP/2\" 101 - downstream_verification_changed").isEmpty
        }
    }

    /// SIGTERM: GOAWAY, but an h2 tunnel goes on until the drain deadline, then ends with its log line.
    func testDrainEndsTunnelsAtTheDeadline() throws {
        try start(extraArguments: ["--drain-seconds", "3"])
        let session = try holdingSession("jinsu-macbook-tls")
        try waitUntil(timeout: 15, "the session to open") { session.log.contains("open") }
        let signalled = Date()
        harness.gateway!.signal(SIGTERM)
        ping(1)
        try waitUntil(timeout: 5, "an echo while draining") { session.log.contains("echoed 1") }
        try waitUntil(timeout: 10, "the tunnel to end") { session.log.contains("closed") }
        XCTAssertGreaterThan(Date().timeIntervalSince(signalled), 2.5, "not before the drain deadline")
        try waitUntil(timeout: 10, "the gateway to exit") { !harness.gateway!.process.isRunning }
        XCTAssertFalse(accessLogLines("\"GET /ws/echo HTTP/2\" 101 - drain_deadline").isEmpty, harness.gateway!.log)
    }
}
