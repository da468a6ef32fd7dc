import Foundation
import TestSupport
import XCTest

/// SIGTERM: no new connections, requests in flight finish, then the process exits 0.
final class ShutdownTests: XCTestCase {
    func testRequestsInFlightFinishOnSIGTERM() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL")
        defer { harness.stop() }
        let slow = DispatchGroup()
        nonisolated(unsafe) var slowResult: CurlResult?
        slow.enter()
        DispatchQueue.global().async {
            slowResult = try? harness.curl("/delay/1")
            slow.leave()
        }
        try waitUntil(timeout: 10, "the slow request to reach the upstream") {
            ((try? harness.upstreamStats().inProgress) ?? 0) >= 1
        }
        harness.gateway!.signal(SIGTERM)
        slow.wait()
        XCTAssertEqual(slowResult?.status, 200, "the request in flight must complete: \(slowResult?.stderr ?? "")")
        try waitUntil(timeout: 15, "the gateway to exit") { !harness.gateway!.process.isRunning }
        XCTAssertEqual(harness.gateway!.process.terminationStatus, 0)
        XCTAssertTrue(harness.gateway!.log.contains("connections.dropped=0"), harness.gateway!.log)
        XCTAssertFalse(Network.isListening(harness.port()))
    }
}

/// A drain answers what it accepted: a client that connected before SIGTERM gets its first response,
/// however late in its handshake it was; only connections idle after a response are closed at once.
final class DrainTests: XCTestCase {
    func testConnectionsAcceptedBeforeSIGTERMAreAnswered() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL", extraArguments: ["--drain-seconds", "20"])
        defer { harness.stop() }
        let script = Paths.repository.appendingPathComponent("Tests/Fixtures/tls/step_client.py").path
        let pki = harness.pki
        func stepClient() throws -> InteractiveProcess {
            try InteractiveProcess(
                executable: try Command.which("python3"),
                arguments: [
                    script, String(harness.port()), Manifests.host, pki.caCertificate,
                    pki.path("jinsu-macbook-tls", "tls.crt"),
                    pki.path("jinsu-macbook-tls", "tls.key"), "/headers",
                ], directory: harness.workDirectory)
        }
        // Connected over TCP, not a byte of TLS sent yet.
        let early = try stepClient()
        try early.waitFor("connected")
        // Connected while the gateway is stopped: the kernel completes and queues it, nobody has accepted it.
        harness.gateway!.signal(SIGSTOP)
        let queued = try stepClient()
        try queued.waitFor("connected")
        harness.gateway!.signal(SIGTERM)
        harness.gateway!.signal(SIGCONT)
        try waitUntil(timeout: 10, "the gateway to stop listening") { !Network.isListening(harness.port()) }
        for client in [early, queued] {
            client.send("go\n")
            try client.waitFor("status", timeout: 15)
            XCTAssertTrue(client.output.contains("status 200 connection=close"), client.output)
        }
        try waitUntil(timeout: 15, "the gateway to exit") { !harness.gateway!.process.isRunning }
        XCTAssertEqual(harness.gateway!.process.terminationStatus, 0)
        XCTAssertTrue(harness.gateway!.log.contains("connections.dropped=0"), harness.gateway!.log)
    }

    func testConnectionIdleAfterAResponseIsClosedAtOnce() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL", extraArguments: ["--drain-seconds", "20"])
        defer { harness.stop() }
        let pki = harness.pki
        let client = try InteractiveTLSClient(
            port: harness.port(), serverName: Manifests.host, caFile: pki.caCertificate,
            client: (pki.path("jinsu-macbook-tls", "tls.crt"), pki.path("jinsu-macbook-tls", "tls.key")),
            directory: harness.workDirectory)
        client.send("GET /uuid HTTP/1.1\r\nHost: \(Manifests.host)\r\n\r\n")
        try client.waitFor("\"uuid\"")
        let started = Date()
        harness.gateway!.signal(SIGTERM)
        try waitUntil(timeout: 10, "the idle connection to be closed") { !client.isRunning }
        try waitUntil(timeout: 10, "the gateway to exit") { !harness.gateway!.process.isRunning }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "not held until the 20 s drain deadline")
    }
}
