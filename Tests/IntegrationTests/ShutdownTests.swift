import Foundation
import TestSupport
import XCTest

/// SIGTERM: no new connections, requests in flight finish, then the process exits 0.
final class ShutdownTests: XCTestCase {
    func testRequestsInFlightFinishOnSIGTERM() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL")
        defer { harness.stop() }
        let slow = try RequestInFlight(harness, "/delay/1")
        harness.gateway!.signal(SIGTERM)
        let slowResult = slow.wait()
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

/// A balancer's health check must see a replica leave before the replica stops answering: readiness
/// fails from the SIGTERM on, while what was accepted is still answered.
final class DrainReadinessTests: XCTestCase {
    private func ready(_ admin: Int) throws -> (status: Int, firstLine: String) {
        let result = try Command.run(
            "curl", ["-sS", "-w", "\n%{http_code}", "http://127.0.0.1:\(admin)/healthz/ready"], timeout: 10)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        return (Int(lines.last ?? "") ?? 0, lines.first ?? "")
    }

    private func draining(extraArguments: [String]) throws -> (GatewayHarness, admin: Int) {
        let admin = try Network.freePort()
        let harness = try GatewayHarness.running(
            mode: "MUTUAL", extraArguments: ["--admin", "127.0.0.1:\(admin)", "--drain-seconds", "20"] + extraArguments)
        try Network.waitForListening(admin)
        XCTAssertEqual(try ready(admin).status, 200)
        return (harness, admin)
    }

    func testReadinessFailsWhileRequestsInFlightFinish() throws {
        let (harness, admin) = try draining(extraArguments: [])
        defer { harness.stop() }
        let slow = try RequestInFlight(harness, "/delay/3")
        harness.gateway!.signal(SIGTERM)
        var seen: (status: Int, firstLine: String) = (0, "")
        try waitUntil(timeout: 5, "readiness to fail") {
            seen = (try? ready(admin)) ?? (0, "")
            return seen.status == 503
        }
        XCTAssertEqual(seen.firstLine, "draining")
        XCTAssertFalse(slow.isFinished, "readiness failed while the request was in flight")
        let slowResult = slow.wait()
        XCTAssertEqual(slowResult?.status, 200, slowResult?.stderr ?? "")
        try waitUntil(timeout: 15, "the gateway to exit") { !harness.gateway!.process.isRunning }
        XCTAssertTrue(harness.gateway!.log.contains("connections.dropped=0"), harness.gateway!.log)
    }

    /// With `--shutdown-delay` the replica keeps accepting, failing readiness, until the delay ends.
    func testShutdownDelayKeepsServingNewConnectionsWhileUnready() throws {
        let (harness, admin) = try draining(extraArguments: ["--shutdown-delay", "3"])
        defer { harness.stop() }
        let signalled = Date()
        harness.gateway!.signal(SIGTERM)
        try waitUntil(timeout: 2, "readiness to fail") { (try? ready(admin).status) == 503 }
        let during = try harness.curl("/uuid")
        XCTAssertEqual(during.status, 200, "a new connection during the delay is served: \(during.stderr)")
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 3, "the request came within the delay")
        try waitUntil(timeout: 10, "the gateway to stop listening") { !Network.isListening(harness.port()) }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(signalled), 2.9, "not before the delay ended")
        try waitUntil(timeout: 15, "the gateway to exit") { !harness.gateway!.process.isRunning }
        XCTAssertEqual(harness.gateway!.process.terminationStatus, 0)
    }
}

/// A request started in the background and, once `init` returns, being answered by the upstream.
private final class RequestInFlight: @unchecked Sendable {
    private let done = DispatchGroup()
    private var result: CurlResult?

    init(_ harness: GatewayHarness, _ path: String) throws {
        done.enter()
        DispatchQueue.global().async { [self] in
            result = try? harness.curl(path)
            done.leave()
        }
        try waitUntil(timeout: 10, "\(path) to reach the upstream") {
            ((try? harness.upstreamStats().inProgress) ?? 0) >= 1
        }
    }

    var isFinished: Bool { done.wait(timeout: .now()) == .success }

    func wait() -> CurlResult? {
        done.wait()
        return result
    }
}
