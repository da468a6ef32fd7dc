import Foundation
import TestSupport
import XCTest

/// Attacks on WebSocket over HTTP/2 (RFC 8441) from a hostile client (Tests/Fixtures/h2/h2_websocket_attack.py
/// on PyPI's `h2`): what an extended CONNECT stream must never carry to the upstream, and what it must not cost.
final class HTTP2WebSocketAttackTests: XCTestCase {
    var harness: GatewayHarness!

    override func tearDown() { harness?.stop() }

    /// The walkthrough's host, MUTUAL; everything goes to the demo upstream except `/admin*` and `/anything/admin*`, which are denied.
    private func start(extraArguments: [String] = []) throws {
        try requireH2Probe()
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
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
              - route: [{destination: {host: server, port: {number: 80}}}]
            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: no-admin, namespace: istio-system}
            spec:
              action: DENY
              rules: [{to: [{operation: {paths: ['/admin*', '/anything/admin*']}}]}]
            """)
        try harness.startGateway(extraArguments: extraArguments)
    }

    private func attack(
        _ scenario: String, _ options: [String] = [], client: String? = "jinsu-macbook-tls", timeout: TimeInterval = 60
    ) throws -> [String: Any] {
        try h2Probe(
            harness, scenario, client: client, extra: options, timeout: timeout, script: "h2_websocket_attack.py")
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
}
