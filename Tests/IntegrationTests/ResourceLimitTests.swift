import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Running out of file descriptors, and `--max-connections` (issue #17, item 3): no busy loop, no log
/// flood, and service resumes once connections close.
final class ResourceLimitTests: XCTestCase {
    var harness: GatewayHarness!
    var idle: [Int32] = []

    override func setUpWithError() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService())
    }

    override func tearDown() {
        for fd in idle { close(fd) }
        harness.stop()
    }

    func testOutOfFileDescriptorsBacksOffQuietlyAndRecovers() throws {
        // The connection limit is set above what 48 descriptors allow, so accept itself fails (EMFILE).
        try harness.startGateway(extraArguments: ["--max-connections", "1000"], fileLimit: 48)
        let gateway = harness.gateway!
        idle = try (0..<60).map { _ in try Self.connect(port: harness.port()) }
        try waitUntil(timeout: 10, "the gateway to run out of descriptors") { gateway.log.contains("accepting paused") }

        // Backlogged connections the gateway cannot take must not keep it busy: measure its CPU time
        // while the test keeps polling the log for 2 s.
        let before = try Self.cpuSeconds(pid: gateway.process.processIdentifier)
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            XCTAssertTrue(gateway.process.isRunning)
            usleep(100_000)
        }
        let used = try Self.cpuSeconds(pid: gateway.process.processIdentifier) - before
        XCTAssertLessThan(used, 0.2, "the gateway used \(used) s of CPU in 2 s while out of descriptors")
        let pauseLines = gateway.log.components(separatedBy: "\n").filter { $0.contains("accepting paused") }
        XCTAssertLessThanOrEqual(pauseLines.count, 3, "the condition is logged rate-limited: \(pauseLines.prefix(5))")
        XCTAssertTrue(pauseLines.first?.contains("errno 24") ?? false, pauseLines.first ?? "")
        XCTAssertLessThan(gateway.log.utf8.count, 64 * 1024)

        for fd in idle { close(fd) }
        idle = []
        let result = try harness.curl("/uuid", arguments: ["--max-time", "20"], timeout: 30)
        XCTAssertEqual(result.status, 200, "once connections close the gateway accepts again: \(result.stderr)")
    }

    /// The access log is written to stdout from a queue of its own; when nobody reads it (a paused terminal, a
    /// stalled journald or pipe) what waits there is bounded, or a client sending 50 KB User-Agents would make
    /// the gateway keep every line from then on. Past 16 MiB new lines are dropped, counted
    /// (`tollgate_log_lines_dropped_total`) and noted on stderr, and the gateway goes on serving.
    func testAnAccessLogNobodyReadsCannotGrowWithoutBound() throws {
        let unread = Pipe()
        let adminPort = try Network.freePort()
        try harness.startGateway(
            extraArguments: ["--admin", "127.0.0.1:\(adminPort)"], standardOutput: unread.fileHandleForWriting)
        try Network.waitForListening(adminPort)
        let pid = harness.gateway!.process.processIdentifier
        let before = try IdleMemoryTests.residentKiB(pid)
        // 800 requests on one connection, each with a 50 KB User-Agent: 40 MB of access log.
        let flood = try longUserAgentRequests(800, userAgentBytes: 50_000, timeout: 300)
        let printed = flood.body + "\n" + flood.stdoutTail
        XCTAssertEqual(printed.components(separatedBy: "204 ").count - 1, 800, flood.stderr)
        let grown = try IdleMemoryTests.residentKiB(pid) - before
        XCTAssertLessThan(grown, 30 * 1024, "the unread access log is held in memory (KiB)")
        XCTAssertEqual(try harness.curl("/uuid").status, 200, "the gateway goes on serving")
        let dropped = AdminMetrics.value("tollgate_log_lines_dropped_total{output=\"stdout\"}", adminPort: adminPort)
        XCTAssertGreaterThan(dropped ?? 0, 200, "lines dropped, counted")
        XCTAssertTrue(harness.gateway!.log.contains("log output blocked: lines dropped"))
        _ = unread
    }

    /// `count` requests to `/status/204` on one connection (one curl), each with a User-Agent of `userAgentBytes`.
    private func longUserAgentRequests(_ count: Int, userAgentBytes: Int, timeout: TimeInterval) throws -> CurlResult {
        let url = "https://\(Manifests.host):\(harness.port())/status/204"
        let config = harness.workDirectory.appendingPathComponent("long-user-agent.curl")
        try
            (["user-agent = \"\(String(repeating: "u", count: userAgentBytes))\""]
            + Array(repeating: "url = \"\(url)\"\noutput = \"/dev/null\"", count: count - 1))
            .joined(separator: "\n").write(to: config, atomically: true, encoding: .utf8)
        return try harness.curl("/status/204", arguments: ["-K", config.path], timeout: timeout)
    }

    /// SIGTERM with an access log nobody reads: the lines still waiting cannot reach the descriptor, and
    /// waiting for them without bound would keep the gateway from ever exiting (until a SIGKILL).
    func testShutdownDoesNotWaitForAnAccessLogNobodyReads() throws {
        let unread = Pipe()
        try harness.startGateway(standardOutput: unread.fileHandleForWriting)
        // 40 requests with a 30 KB User-Agent: 1.2 MB of access log against a 64 KiB pipe.
        let stalled = try longUserAgentRequests(40, userAgentBytes: 30_000, timeout: 120)
        XCTAssertEqual(stalled.exitCode, 0, stalled.stderr)
        harness.gateway!.signal(SIGTERM)
        try waitUntil(timeout: 20, "the gateway to exit") { !harness.gateway!.process.isRunning }
        XCTAssertEqual(harness.gateway!.process.terminationStatus, 0)
        XCTAssertTrue(harness.gateway!.log.contains("connections.dropped=0"), harness.gateway!.log)
        _ = unread
    }

    func testMaxConnectionsDefaultsFromTheDescriptorLimitAndRefusesTheRest() throws {
        // 48 descriptors: (48 - 24 kept in reserve) / 2 = 12 client connections.
        let adminPort = try Network.freePort()
        try harness.startGateway(extraArguments: ["--admin", "127.0.0.1:\(adminPort)"], fileLimit: 48)
        try Network.waitForListening(adminPort)
        func metric(_ name: String) throws -> Double? {
            let text = try Command.run("curl", ["-sS", "http://127.0.0.1:\(adminPort)/stats/prometheus"]).stdout
            return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap {
                Double($0.split(separator: " ").last!)
            }
        }
        idle = try (0..<12).map { _ in try Self.connect(port: harness.port()) }
        try waitUntil(timeout: 10, "12 open client connections") {
            (try? metric("tollgate_downstream_connections_active")) == 12
        }
        XCTAssertEqual(try metric("tollgate_downstream_connections_refused_total"), 0)

        let refused = try Self.connect(port: harness.port())
        defer { close(refused) }
        XCTAssertTrue(Self.isClosedByPeer(refused), "the 13th connection must be closed at once")
        XCTAssertEqual(try metric("tollgate_downstream_connections_refused_total"), 1)
        XCTAssertEqual(
            harness.gateway!.log.components(separatedBy: "connections refused: --max-connections are open").count - 1, 1
        )

        close(idle.removeLast())
        try waitUntil(timeout: 10, "a freed slot") { (try? metric("tollgate_downstream_connections_active")) == 11 }
        XCTAssertEqual(try harness.curl("/uuid").status, 200)
    }

    /// A refused handshake (MUTUAL, no certificate) gets its alert with the gateway's write side left open
    /// (no FIN right behind it, so a browser reads the certificate error), but the gateway does not wait on
    /// the peer: one that never closes is cut after the 2-s linger, whatever it sends meanwhile is read and
    /// dropped (never answered, never proxied), and until the cut it counts against --max-connections.
    func testARefusedHandshakeIsCutAfterItsLingerAndCountsAsOpen() throws {
        try harness.startGateway(extraArguments: ["--max-connections", "1"])
        let script = Paths.repository.appendingPathComponent("Tests/Fixtures/tls/refused_client.py").path
        func refusedClient(_ mode: [String]) throws -> (output: String, closedAfter: Double) {
            let client = try InteractiveProcess(
                executable: try Command.which("python3"),
                arguments: [script, String(harness.port()), Manifests.host, harness.pki.caCertificate, "10"] + mode,
                directory: harness.workDirectory)
            try client.waitFor("closed after", timeout: 30)
            let output = client.output
            XCTAssertTrue(output.contains("alert TLSV13_ALERT_CERTIFICATE_REQUIRED"), output)
            XCTAssertFalse(output.contains("bytes after the alert"), "nothing but the alert is sent: \(output)")
            let seconds = output.components(separatedBy: "closed after ").last.flatMap {
                Double($0.prefix { !$0.isWhitespace })
            }
            return (output, try XCTUnwrap(seconds, output))
        }

        let upstreamBefore = try harness.upstreamStats().connections
        func refusals() -> Int {
            harness.gateway!.log.split(separator: "\n").filter {
                $0.contains("tls handshake failed") && $0.contains("client certificate required but none was presented")
            }.count
        }

        let silent = try refusedClient([])
        XCTAssertGreaterThanOrEqual(silent.closedAfter, 1, "no FIN right behind the alert: \(silent.output)")
        XCTAssertLessThan(silent.closedAfter, 4, "cut after the linger: \(silent.output)")

        let probed = try refusedClient(["probe"])
        XCTAssertTrue(
            probed.output.contains("second connection refused"),
            "the lingering connection is one of the --max-connections: \(probed.output)")
        XCTAssertLessThan(probed.closedAfter, 4, "cut after the linger: \(probed.output)")

        // Five seconds of requests after the alert: read and dropped, and the cut still comes on time.
        let flooded = try refusedClient(["flood", "5"])
        XCTAssertLessThan(
            flooded.closedAfter, 4, "cut after the linger while the peer keeps sending: \(flooded.output)")
        XCTAssertEqual(
            try harness.upstreamStats().connections - upstreamBefore, 1, "only the stats probe's own connection")
        XCTAssertEqual(refusals(), 3, "each refusal is logged once: \(harness.gateway!.log)")

        XCTAssertEqual(try harness.curl("/uuid").status, 200, "the slot is free again after the cut")
    }

    /// A blocking TCP connection to 127.0.0.1:port that sends nothing.
    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw HarnessError("connect to port \(port) failed: errno \(errno)")
        }
        return fd
    }

    /// Whether the peer closes `fd` within 5 s (EOF or reset) rather than keeping it open.
    static func isClosedByPeer(_ fd: Int32) -> Bool {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        return n == 0 || (n < 0 && errno == ECONNRESET)
    }

    /// User plus system CPU time of a process, from /proc/PID/stat.
    static func cpuSeconds(pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        guard let close = stat.lastIndex(of: ")") else { throw HarnessError("unreadable /proc/\(pid)/stat") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
            throw HarnessError("unreadable /proc/\(pid)/stat")
        }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// `SO_REUSEPORT` would let a second gateway of the same user join the port and take a share of its
    /// connections (seen when a hand-started gateway landed on a test's port); it must refuse to start.
    func testASecondGatewayOnAPortInUseRefusesToStart() throws {
        try harness.startGateway()
        let port = harness.port()
        let second = try Command.run(
            Paths.tollgate,
            [
                "serve", "--config", harness.configDirectory.path, "--credentials", harness.pki.directory.path,
                "--port-map", "443=\(port)", "--service", "server=127.0.0.1:1",
            ], timeout: 20)
        XCTAssertNotEqual(second.exitCode, 0, "the second gateway must not start: \(second.stdout)")
        XCTAssertTrue(
            (second.stderr + second.stdout).contains("Address already in use"),
            "names the cause: \(second.stderr)")
        for _ in 0..<8 {
            let result = try harness.curl("/uuid")
            XCTAssertEqual(result.status, 200, "every connection still reaches the first gateway: \(result.stderr)")
        }
    }

    /// A client that asks for a response with `Connection: close` and never reads it: once the whole
    /// response is queued, the gateway waits at most the idle timeout for the client to take it, then closes
    /// (as Envoy's delayed_close_timeout). Before, such a connection kept its slot and up to a high-water
    /// mark of queue for as long as the client held the socket.
    func testAClientThatNeverReadsItsResponseIsClosedAfterTheIdleTimeout() throws {
        let adminPort = try Network.freePort()
        try harness.startGateway(extraArguments: [
            "--admin", "127.0.0.1:\(adminPort)", "--idle-timeout", "2", "--stream-idle-timeout", "2",
        ])
        // The kernel's socket buffers take what the machine gives them (a few MiB on loopback): sizes 128 KiB
        // apart make some responses end with part of their bytes in the gateway's queue.
        let paths = stride(from: 1 << 20, through: 8 << 20, by: 128 << 10).map { "/bytes/\($0)" }
        let device = "jinsu-macbook-tls"
        let client = try ManagedProcess(
            name: "unread", executable: try Command.which("python3"),
            arguments: [
                "-u", Paths.repository.appendingPathComponent("Tests/Fixtures/websocket/unread_client.py").path,
                "close", Manifests.host, String(harness.port()), harness.pki.caCertificate,
                harness.pki.path(device, "tls.crt"), harness.pki.path(device, "tls.key"),
            ] + paths,
            logDirectory: harness.workDirectory)
        addTeardownBlock { client.stop() }
        try waitUntil(timeout: 60, "the requests to be sent") { client.log.contains("ended") }
        try waitUntil(timeout: 30, "every response's access log line") {
            harness.gateway!.log.split(separator: "\n").filter { $0.contains("\"GET /bytes/") }.count == paths.count
        }
        try waitUntil(timeout: 15, "no client connection left open") {
            AdminMetrics.value("tollgate_downstream_connections_active", adminPort: adminPort) == 0
        }
        XCTAssertTrue(client.process.isRunning, "the client still holds its sockets")
    }
}
