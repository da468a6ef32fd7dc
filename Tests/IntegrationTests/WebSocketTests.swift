import Foundation
import TestSupport
import XCTest

/// WebSocket through the gateway (issue #15), with a real client library (`websockets`) holding a client
/// certificate, the demo upstream's `/ws/echo` and a `websockets` server as upstreams.
final class WebSocketTests: XCTestCase {
    var harness: GatewayHarness!

    override func tearDown() { harness?.stop() }

    static let fixtures = Paths.repository.appendingPathComponent("Tests/Fixtures/websocket")

    /// An interpreter with `websockets` (Debian's python3-websockets installs it for /usr/bin/python3).
    static let python: String? = ["/usr/bin/python3", (try? Command.which("python3")) ?? "python3"].first {
        (try? Command.run($0, ["-c", "import websockets"]).exitCode) == 0
    }

    static let upgradeFields =
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        + "Sec-WebSocket-Version: 13\r\n"

    /// MUTUAL gateway; `/ws/` to the demo upstream with a 1 s route timeout, `/py/` to a `websockets` server,
    /// `/early` to the early-data checker, and a DENY policy on `/admin*`.
    private func start(extraArguments: [String] = [], pythonUpstreams: Bool = false) throws {
        guard Self.python != nil else { throw XCTSkip("python websockets is not installed (apt python3-websockets)") }
        harness = try GatewayHarness()
        try harness.startUpstream()
        var services: [String: Int] = [:]
        if pythonUpstreams {
            services["pyws"] = try startPython("ws_server.py", name: "pyws")
            services["early"] = try startPython("early_data_upstream.py", name: "early")
            services["flood"] = try startPython("flood_upstream.py", name: "flood")
        }
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write(
            "vs.yaml",
            Manifests.virtualService(
                routes: """
                        - match: [{uri: {prefix: /ws/}}]
                          timeout: 1s
                          route: [{destination: {host: server, port: {number: 80}}}]
                        - match: [{uri: {prefix: /py/}}]
                          route: [{destination: {host: pyws, port: {number: 80}}}]
                        - match: [{uri: {prefix: /early}}]
                          route: [{destination: {host: early, port: {number: 80}}}]
                        - match: [{uri: {prefix: /flood/}}]
                          route: [{destination: {host: flood, port: {number: 80}}}]
                        - match: [{uri: {prefix: /}}]
                          route: [{destination: {host: server, port: {number: 80}}}]
                    """))
        try harness.write(
            "policy.yaml",
            """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: no-admin, namespace: istio-system}
            spec:
              action: DENY
              rules: [{to: [{operation: {paths: ['/admin*']}}]}]
            """)
        try harness.startGateway(extraArguments: extraArguments, services: services)
    }

    private var pythonProcesses: [ManagedProcess] = []

    private func startPython(_ script: String, name: String) throws -> Int {
        let port = try Network.freePort()
        let process = try ManagedProcess(
            name: name, executable: Self.python!,
            arguments: ["-u", Self.fixtures.appendingPathComponent(script).path, String(port)],
            logDirectory: harness.workDirectory)
        pythonProcesses.append(process)
        addTeardownBlock { process.stop() }
        try Network.waitForListening(port, process: process)
        return port
    }

    private var pings: URL { harness.workDirectory.appendingPathComponent("pings") }

    /// A `hold` client with `client`'s certificate: its session stays open, echoes each `ping-K` file that
    /// `ping(K)` creates (logging "echoed K"), and logs "closed" when the gateway ends it.
    private func holdingSession(_ name: String, client: String) throws -> ManagedProcess {
        try FileManager.default.createDirectory(at: pings, withIntermediateDirectories: true)
        let session = try ManagedProcess(
            name: "ws-\(name)", executable: Self.python!,
            arguments: ["-u"] + clientArguments("/ws/echo", client: client, ["hold", pings.path]),
            logDirectory: harness.workDirectory)
        addTeardownBlock { session.stop() }
        return session
    }

    private func ping(_ number: Int) {
        _ = FileManager.default.createFile(atPath: pings.appendingPathComponent("ping-\(number)").path, contents: nil)
    }

    private func url(_ path: String) -> String { "wss://\(Manifests.host):\(harness.port())\(path)" }

    private func clientArguments(_ path: String, client: String?, _ mode: [String]) -> [String] {
        [
            Self.fixtures.appendingPathComponent("ws_client.py").path, url(path), harness.pki.caCertificate,
            client.map { harness.pki.path($0, "tls.crt") } ?? "-",
            client.map { harness.pki.path($0, "tls.key") } ?? "-",
        ] + mode
    }

    private func client(
        _ path: String, _ mode: String..., client: String? = "jinsu-macbook-tls", timeout: TimeInterval = 60
    ) throws -> String {
        try Command.run(Self.python!, clientArguments(path, client: client, mode), timeout: timeout).stdout
    }

    private func accessLogLines(_ marker: String) -> [Substring] {
        harness.gateway!.log.split(separator: "\n").filter { $0.contains(marker) }
    }

    /// Text, binary, a 1.5 MiB message (more than the channel's high-water mark, so backpressure runs),
    /// ping/pong and the client's close handshake, then the tunnel's one access log line.
    func testEchoThroughTheGatewayWithAClientCertificate() throws {
        let adminPort = try Network.freePort()
        try start(extraArguments: ["--admin", "127.0.0.1:\(adminPort)"])
        let out = try client("/ws/echo", "echo")
        XCTAssertEqual(
            out.split(separator: "\n"),
            ["text True", "binary True", "large 1572864 True", "pong True", "closed 1000 done"], out)
        try waitUntil(timeout: 10, "the tunnel's access log line") {
            !accessLogLines("\"GET /ws/echo HTTP/1.1\" 101").isEmpty
        }
        let logged = accessLogLines("\"GET /ws/echo HTTP/1.1\" 101")
        XCTAssertEqual(logged.count, 1, "one line per tunnel, at its end")
        let fields = logged[0].components(separatedBy: "\" 101 ")[1].split(separator: " ")
        XCTAssertEqual(fields[1], "via_upstream", String(logged[0]))
        XCTAssertGreaterThan(Int(fields[2]) ?? 0, 1_572_864, "bytes from the client")
        XCTAssertGreaterThan(Int(fields[3]) ?? 0, 1_572_864, "bytes to the client")
        XCTAssertTrue(logged[0].hasSuffix("principal=jinsu-macbook"), String(logged[0]))
        let metrics = try Command.run("curl", ["-sS", "http://127.0.0.1:\(adminPort)/stats/prometheus"]).stdout
        let lines = metrics.split(separator: "\n")
        XCTAssertTrue(lines.contains("tollgate_websocket_upgrades_total 1"), metrics)
        XCTAssertTrue(lines.contains("tollgate_websocket_tunnels_active 0.0"), metrics)
    }

    /// Backpressure: 48 MiB each way through one tunnel, the Python client reading slower than the upstream
    /// writes, must not pile up in the gateway (each side's queue stops reading the other at 256 KiB).
    func testALargeMessageIsStreamedNotBuffered() throws {
        try start()
        func peakResidentKiB() throws -> Int {
            let status = try String(
                contentsOfFile: "/proc/\(harness.gateway!.process.processIdentifier)/status", encoding: .utf8)
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
        }
        XCTAssertEqual(try client("/ws/echo", "echo").split(separator: "\n").last, "closed 1000 done")
        let before = try peakResidentKiB()
        XCTAssertEqual(try client("/ws/echo", "big", "48", timeout: 120), "big 48 True\n")
        let growth = try peakResidentKiB() - before
        XCTAssertLessThan(growth, 16 * 1024, "peak memory grew by \(growth) KiB for 48 MiB each way")
    }

    func testTwentyConcurrentSessions() throws {
        try start()
        XCTAssertEqual(try client("/ws/echo", "concurrent", "20"), "sessions ok 20\n")
        try waitUntil(timeout: 10, "20 access log lines") {
            accessLogLines("\"GET /ws/echo HTTP/1.1\" 101").count == 20
        }
    }

    /// The upgrade request is authorized like any request: a DENY never reaches the upstream, and a client
    /// without a certificate does not get past the handshake.
    func testDeniedUpgradeAndMissingCertificate() throws {
        try start()
        XCTAssertEqual(try client("/admin/ws/echo", "status"), "status 403\n")
        try waitUntil(timeout: 10, "the denied upgrade's log line") {
            !accessLogLines("\"GET /admin/ws/echo HTTP/1.1\" 403").isEmpty
        }
        let anonymous = try client("/ws/echo", "status", client: nil)
        XCTAssertTrue(anonymous.hasPrefix("failed"), anonymous)
        XCTAssertTrue(accessLogLines("\" 101 ").isEmpty)
    }

    /// WebSocket smuggling: an upstream that answers the upgrade with anything but 101 has not switched, so
    /// the connection stays HTTP. A client that pipelines a request behind the upgrade must have it parsed
    /// and judged (here denied), never passed raw to the upstream as if a tunnel were open.
    func testAnUpgradeTheUpstreamRefusesLeavesTheConnectionHTTP() throws {
        try start()
        for refusal in [200, 400, 426] {
            let smuggled =
                "GET /status/\(refusal) HTTP/1.1\r\nHost: \(Manifests.host)\r\n\(Self.upgradeFields)\r\n"
                + "GET /admin/secret HTTP/1.1\r\nHost: \(Manifests.host)\r\nConnection: close\r\n\r\n"
            let answer = try harness.raw(smuggled)
            let statuses = answer.components(separatedBy: "\r\n").filter { $0.hasPrefix("HTTP/1.1 ") }
            XCTAssertEqual(statuses.map { $0.split(separator: " ")[1] }, ["\(refusal)", "403"], answer)
            XCTAssertTrue(answer.hasSuffix("RBAC: access denied"), answer)
        }
        try waitUntil(timeout: 10, "three denied requests in the access log") {
            accessLogLines("\"GET /admin/secret HTTP/1.1\" 403").count == 3
        }
        XCTAssertTrue(accessLogLines("\" 101 ").isEmpty)
    }

    /// RFC 6455 §4.2.1: a malformed opening handshake is a 400 and the connection closes; an upgrade to a
    /// protocol Istio's gateways do not enable is refused as Envoy refuses it (403, `upgrade_failed`), while
    /// `h2c` is ignored like Envoy does.
    func testMalformedAndUnsupportedUpgrades() throws {
        try start()
        let host = "Host: \(Manifests.host)\r\n"
        let badKey = try harness.raw(
            "GET /ws/echo HTTP/1.1\r\n\(host)Connection: Upgrade\r\nUpgrade: websocket\r\n"
                + "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\nGET /uuid HTTP/1.1\r\n\(host)\r\n")
        XCTAssertTrue(badKey.hasPrefix("HTTP/1.1 400 "), badKey)
        XCTAssertTrue(badKey.contains("connection: close"), badKey)
        XCTAssertEqual(badKey.components(separatedBy: "HTTP/1.1 ").count, 2, "the pipelined request is not served")
        let http10 = try harness.raw("GET /ws/echo HTTP/1.0\r\n\(host)\(Self.upgradeFields)\r\n")
        XCTAssertTrue(http10.hasPrefix("HTTP/1.1 400 "), http10)
        let withBody = try harness.raw(
            "GET /ws/echo HTTP/1.1\r\n\(host)\(Self.upgradeFields)Content-Length: 5\r\n\r\nhello")
        XCTAssertTrue(withBody.hasPrefix("HTTP/1.1 400 "), withBody)
        let version8 = try harness.raw(
            "GET /ws/echo HTTP/1.1\r\n\(host)"
                + Self.upgradeFields.replacingOccurrences(of: "Version: 13", with: "Version: 8") + "\r\n")
        XCTAssertTrue(version8.hasPrefix("HTTP/1.1 426 "), version8)
        XCTAssertTrue(version8.contains("\r\nsec-websocket-version: 13\r\n"), version8)
        let other = try harness.raw("GET /get HTTP/1.1\r\n\(host)Connection: Upgrade\r\nUpgrade: TLS/1.2\r\n\r\n")
        XCTAssertTrue(other.hasPrefix("HTTP/1.1 403 "), other)
        try waitUntil(timeout: 10, "the refused upgrade's log line") {
            !accessLogLines("\"GET /get HTTP/1.1\" 403 - upgrade_failed").isEmpty
        }
        let h2c = try harness.raw(
            "GET /headers HTTP/1.1\r\n\(host)Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                + "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(h2c.hasPrefix("HTTP/1.1 200 "), h2c)
        XCTAssertFalse(h2c.lowercased().contains("\"upgrade\""), "h2c fields never reach the upstream: \(h2c)")
    }

    /// The route timeout (1 s on /ws/) covers the upgrade response only: a silent session outlives it. The
    /// stream idle timeout (2 s here) ends a tunnel with no byte either way for that long.
    func testRouteTimeoutSparesTheTunnelAndStreamIdleTimeoutEndsIt() throws {
        try start(extraArguments: ["--stream-idle-timeout", "3"])
        XCTAssertEqual(try client("/ws/echo", "idle", "1.8"), "echo after idle ok\n")
        let idle = try client("/ws/echo", "idle", "6")
        XCTAssertTrue(idle.hasPrefix("closed after idle"), idle)
        try waitUntil(timeout: 10, "the idle tunnel's log line") {
            !accessLogLines("\"GET /ws/echo HTTP/1.1\" 101 SI stream_idle_timeout").isEmpty
        }
    }

    /// Bytes a client sends behind its upgrade request wait until the upstream has agreed with its 101; then
    /// they go first. A `websockets` upstream closing the session itself runs the close handshake the
    /// other way. A 101 to another protocol is a 502.
    func testEarlyBytesWaitForThe101AndTheUpstreamMayClose() throws {
        try start(pythonUpstreams: true)
        let answer = try harness.raw(
            "GET /early HTTP/1.1\r\nHost: \(Manifests.host)\r\n\(Self.upgradeFields)\r\nEARLY", timeout: 20)
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"), answer)
        XCTAssertTrue(answer.hasSuffix("\r\n\r\nUPSTREAM:EARLY"), answer)
        let upstreamLog = pythonProcesses[1].log
        XCTAssertTrue(upstreamLog.contains("before-101 b''"), upstreamLog)
        XCTAssertTrue(upstreamLog.contains("after-101 b'EARLY'"), upstreamLog)

        XCTAssertEqual(try client("/py/chat", "serverclose"), "closed by server 4000\n")

        // A 101 switching to another protocol than the one asked for is not relayed, and nothing is tunnelled.
        let wrongSwitch = try harness.raw(
            "GET /early/h2c HTTP/1.1\r\nHost: \(Manifests.host)\r\n\(Self.upgradeFields)Connection: close\r\n\r\n")
        XCTAssertTrue(wrongSwitch.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), wrongSwitch)
        XCTAssertFalse(wrongSwitch.contains("RAW"), wrongSwitch)
    }

    /// A reload that leaves client verification alone keeps tunnels; one that revokes a device (a CRL naming
    /// jinsu-macbook) closes that device's tunnel at once and leaves the others.
    func testReloadClosesOnlyTunnelsVerifiedTheOldWay() throws {
        try start()
        var sessions: [String: ManagedProcess] = [:]
        for device in ["jinsu-macbook-tls", "jinsu-iphone-tls"] {
            sessions[device] = try holdingSession(device, client: device)
        }
        try waitUntil(timeout: 15, "both sessions to open") { sessions.values.allSatisfy { $0.log.contains("open") } }

        var reloads = harness.reloadCount
        try harness.write(
            "vs.yaml",
            try String(contentsOf: harness.configDirectory.appendingPathComponent("vs.yaml"), encoding: .utf8)
                + "\n# unrelated\n")
        try harness.waitForReload(after: reloads)
        ping(1)
        try waitUntil(timeout: 10, "both sessions to echo after an unrelated reload") {
            sessions.values.allSatisfy { $0.log.contains("echoed 1") }
        }

        reloads = harness.reloadCount
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL", credential: "crl-trust-tls"))
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
            !accessLogLines("101 - downstream_verification_changed").isEmpty
        }
    }

    /// An open tunnel is a client connection: `--max-connections` bounds tunnels too, and a closed one frees
    /// its place.
    func testMaxConnectionsBoundsOpenTunnels() throws {
        try start(extraArguments: ["--max-connections", "2"])
        var sessions: [ManagedProcess] = []
        for index in 0..<2 {
            let session = try holdingSession("\(index)", client: "jinsu-iphone-tls")
            sessions.append(session)
            try waitUntil(timeout: 15, "session \(index) to open") { session.log.contains("open") }
        }
        let third = try client("/ws/echo", "status")
        XCTAssertTrue(third.hasPrefix("failed"), third)
        XCTAssertTrue(harness.gateway!.log.contains("connections refused: --max-connections are open"))
        sessions[0].stop()
        var again = ""
        try waitUntil(timeout: 15, "a new tunnel once one closed") {
            again = (try? client("/ws/echo", "status")) ?? ""
            return again == "open\n"
        }
    }

    /// SIGTERM: a tunnel is not cut at once, only at the drain deadline, with its access log line.
    func testDrainEndsTunnelsAtTheDeadline() throws {
        try start(extraArguments: ["--drain-seconds", "3"])
        let session = try holdingSession("drain", client: "jinsu-macbook-tls")
        try waitUntil(timeout: 15, "the session to open") { session.log.contains("open") }
        let signalled = Date()
        harness.gateway!.signal(SIGTERM)
        ping(1)
        try waitUntil(timeout: 5, "an echo while draining") { session.log.contains("echoed 1") }
        try waitUntil(timeout: 10, "the tunnel to end") { session.log.contains("closed") }
        XCTAssertGreaterThan(Date().timeIntervalSince(signalled), 2.5, "not before the drain deadline")
        try waitUntil(timeout: 10, "the gateway to exit") { !harness.gateway!.process.isRunning }
        XCTAssertFalse(accessLogLines("101 - drain_deadline").isEmpty, harness.gateway!.log)
    }

    /// A client that ends its side (close_notify) and never reads: once the upstream ended too, what is
    /// still queued for the client waits at most the stream idle timeout, then the connection closes (as
    /// Envoy's delayed_close_timeout). Before, such a connection kept its slot and queue for as long as
    /// the client held the socket.
    func testAClientThatNeverReadsTheTunnelsEndIsClosed() throws {
        let adminPort = try Network.freePort()
        try start(
            extraArguments: ["--admin", "127.0.0.1:\(adminPort)", "--stream-idle-timeout", "2"], pythonUpstreams: true)
        // The kernel's socket buffers take what the machine gives them (a few MiB on loopback): sizes 128 KiB
        // apart make some tunnels end with part of their bytes in the gateway's queue, under its high-water mark.
        let paths = stride(from: 1 << 20, through: 8 << 20, by: 128 << 10).map { "/flood/\($0)" }
        let device = "jinsu-macbook-tls"
        let clients = try ManagedProcess(
            name: "unread", executable: Self.python!,
            arguments: [
                "-u", Self.fixtures.appendingPathComponent("unread_client.py").path, "tunnel", Manifests.host,
                String(harness.port()), harness.pki.caCertificate, harness.pki.path(device, "tls.crt"),
                harness.pki.path(device, "tls.key"),
            ] + paths,
            logDirectory: harness.workDirectory)
        addTeardownBlock { clients.stop() }
        try waitUntil(timeout: 60, "the tunnels to open and end their client side") { clients.log.contains("ended") }
        try waitUntil(timeout: 30, "every tunnel's access log line") {
            accessLogLines("\"GET /flood/").count == paths.count
        }
        try waitUntil(timeout: 15, "no client connection left open") {
            AdminMetrics.value("tollgate_downstream_connections_active", adminPort: adminPort) == 0
        }
        XCTAssertTrue(clients.process.isRunning, "the client still holds its sockets")
    }
}
