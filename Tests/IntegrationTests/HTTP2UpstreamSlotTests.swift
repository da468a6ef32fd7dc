import Foundation
import TestSupport
import XCTest

/// The `--max-connections` slots HTTP/2 streams take for their upstream sockets (`HTTP2Stream.takeUpstreamAllowance`)
/// come back however a stream waiting on its upstream ends: were one kept, a client repeating that ending would
/// take them all, and the gateway would refuse every stream (503 `UO`) and then every connection.
final class HTTP2UpstreamSlotTests: XCTestCase {
    var harness: GatewayHarness!

    override func setUpWithError() throws {
        try requireH2Probe()
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.write(
            "vs.yaml",
            Manifests.virtualService(
                routes: """
                        - match: [{uri: {prefix: /slow/}}]
                          rewrite: {uri: /delay/}
                          timeout: 0.5s
                          retries: {attempts: 3, perTryTimeout: 0.1s, retryOn: "5xx,reset,connect-failure"}
                          route: [{destination: {host: server, port: {number: 80}}}]
                        - match: [{uri: {prefix: /dead}}]
                          retries: {attempts: 2, retryOn: "connect-failure"}
                          route: [{destination: {host: dead, port: {number: 80}}}]
                        - route: [{destination: {host: server, port: {number: 80}}}]
                    """))
        let closedPort = try Network.freePort()
        try harness.startGateway(extraArguments: ["--max-connections", "12"], services: ["dead": closedPort])
    }

    override func tearDown() { harness?.stop() }

    /// 12 slots: one connection's 100 slow streams get 12 upstreams. Then connections whose 30 streams wait on
    /// `/delay/2` are reset stream by stream, end with GOAWAY, or drop their socket; afterwards a connection gets
    /// its 12 again.
    func testSlotsComeBackHoweverAStreamEnds() throws {
        let baseline = try h2Probe(harness, "streams_100")
        let ok = baseline["ok"] as? Int ?? -1
        XCTAssertEqual(ok, 12, "\(baseline)")
        for scenario in ["reset", "goaway", "drop", "reset", "drop"] {
            let r = try h2Probe(harness, scenario, extra: ["--streams", "30"], script: "slot_probe.py")
            let statuses = r["statuses"] as? [String: Int] ?? [:]
            XCTAssertEqual(statuses["503"], 30 - ok, "\(scenario): all the slots were free again: \(r)")
        }
        // The upstream's /delay/2 answers have come (or their sockets closed) by now.
        let deadline = Date().addingTimeInterval(15)
        var again: [String: Any] = [:]
        repeat {
            again = try h2Probe(harness, "streams_100")
        } while again["ok"] as? Int != ok && Date() < deadline
        XCTAssertEqual(again["ok"] as? Int, ok, "slots leaked: \(again)")
    }

    /// Streams whose tries time out and are retried until the route timeout (504), and streams whose upstream
    /// refuses every connection (503 after retries): once answered, their slots are free.
    func testSlotsComeBackAfterTimeoutsRetriesAndFailedUpstreams() throws {
        let slow = try h2Probe(
            harness, "answered", extra: ["--streams", "30", "--path", "/slow/3"], script: "slot_probe.py")
        XCTAssertEqual(slow["statuses"] as? [String: Int], ["504": 12, "503": 18], "\(slow)")
        let dead = try h2Probe(
            harness, "answered", extra: ["--streams", "30", "--path", "/dead"], script: "slot_probe.py")
        XCTAssertEqual(dead["statuses"] as? [String: Int], ["503": 30], "\(dead)")
        let again = try h2Probe(harness, "streams_100")
        XCTAssertEqual(again["ok"] as? Int, 12, "slots leaked: \(again)")
        XCTAssertTrue(harness.gateway!.log.contains("\" 504 UT "), "route timeouts")
    }
}
