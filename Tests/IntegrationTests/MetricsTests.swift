import Foundation
import TestSupport
import XCTest

/// The admin port: Istio's standard request metrics and Tollgate's own, in Prometheus text form.
final class MetricsTests: XCTestCase {
    /// A MUTUAL gateway with the seed policies, its upstream and an admin port; returns the admin port.
    private func startMutualGatewayWithAdminPort(_ harness: GatewayHarness) throws -> Int {
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.copySeed("authorizationpolicy.yaml")
        let adminPort = try Network.freePort()
        try harness.startGateway(extraArguments: ["--admin", "127.0.0.1:\(adminPort)"])
        try Network.waitForListening(adminPort)
        return adminPort
    }

    private func scrape(_ adminPort: Int) throws -> String {
        try Command.run("curl", ["-sS", "http://127.0.0.1:\(adminPort)/stats/prometheus"]).stdout
    }

    func testPrometheusExpositionCountsRequestsHandshakesAndReloads() throws {
        let harness = try GatewayHarness()
        defer { harness.stop() }
        let adminPort = try startMutualGatewayWithAdminPort(harness)

        // Istio's request_protocol is `http` for HTTP/1.1 and HTTP/2 alike, `grpc` by content type alone.
        for version in ["--http1.1", "--http2", "--http2"] {
            XCTAssertEqual(try harness.curl("/uuid", client: "jinsu-iphone-tls", arguments: [version]).status, 200)
        }
        let grpc = try harness.curl(
            "/uuid", client: "jinsu-iphone-tls", arguments: ["--http2", "-H", "content-type: application/grpc+proto"])
        XCTAssertEqual(grpc.status, 200)
        XCTAssertEqual(try harness.curl("/uuid").status, 403)
        XCTAssertNotEqual(try harness.curl("/uuid", client: nil).exitCode, 0)
        let before = harness.reloadCount
        try harness.write("vs.yaml", Manifests.virtualService() + "\n# touch\n")
        try harness.waitForReload(after: before)

        let metrics = try scrape(adminPort)
        func line(_ prefix: String) -> String? {
            metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.map(String.init)
        }
        let ok = line(
            "istio_requests_total{reporter=\"source\",response_code=\"200\",response_flags=\"-\",source_principal=\"spiffe://jinsu-iphone\",destination_service=\"server\",request_protocol=\"http\"}"
        )
        XCTAssertEqual(ok?.split(separator: " ").last, "3", metrics)
        XCTAssertEqual(
            line(
                "istio_requests_total{reporter=\"source\",response_code=\"200\",response_flags=\"-\",source_principal=\"spiffe://jinsu-iphone\",destination_service=\"server\",request_protocol=\"grpc\"}"
            )?
            .split(separator: " ").last, "1", metrics)
        XCTAssertFalse(metrics.contains("request_protocol=\"http/2\""), metrics)
        let denied = line(
            "istio_requests_total{reporter=\"source\",response_code=\"403\",response_flags=\"-\",source_principal=\"spiffe://jinsu-macbook\""
        )
        XCTAssertEqual(denied?.split(separator: " ").last, "1", metrics)
        XCTAssertNotNil(
            line(
                "istio_request_duration_milliseconds_bucket{reporter=\"source\",response_code=\"200\",destination_service=\"server\",le=\"0.5\"}"
            ), metrics)
        XCTAssertEqual(
            line("tollgate_tls_handshake_failures_total{reason=\"no_client_certificate\"}")?.split(separator: " ").last,
            "1", metrics)
        XCTAssertEqual(
            line("tollgate_config_reloads_total{result=\"success\"}")?.split(separator: " ").last.map(String.init),
            String(harness.reloadCount), metrics)
        XCTAssertNotNil(line("tollgate_downstream_connections_total"), metrics)

        let ready = try Command.run(
            "curl", ["-sS", "-w", "%{http_code}", "http://127.0.0.1:\(adminPort)/healthz/ready"]
        ).stdout
        XCTAssertTrue(ready.hasPrefix("ok\ngeneration ") && ready.hasSuffix("\n200"), ready)
    }

    func testFailedHandshakesAreCountedByTheirReason() throws {
        let harness = try GatewayHarness()
        defer { harness.stop() }
        let adminPort = try startMutualGatewayWithAdminPort(harness)

        XCTAssertNotEqual(try harness.curl("/uuid", client: "expired-client-tls").exitCode, 0)
        XCTAssertNotEqual(try harness.curl("/uuid", client: "rogue-client-tls").exitCode, 0)
        XCTAssertNotEqual(try harness.curl("/uuid", client: "server-usage-client-tls").exitCode, 0)
        XCTAssertNotEqual(try harness.curl("/uuid", host: "unserved.example").exitCode, 0)

        let metrics = try scrape(adminPort)
        for reason in ["certificate_expired", "unknown_ca", "certificate_usage", "unknown_server_name"] {
            let line = metrics.split(separator: "\n").first {
                $0.hasPrefix("tollgate_tls_handshake_failures_total{reason=\"\(reason)\"}")
            }
            XCTAssertEqual(line?.split(separator: " ").last, "1", "\(reason)\n\(metrics)")
        }
    }

    func testAnIdleAdminConnectionIsClosedAfterTheHeaderTimeout() throws {
        let harness = try GatewayHarness()
        defer { harness.stop() }
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService())
        let adminPort = try Network.freePort()
        try harness.startGateway(extraArguments: ["--admin", "127.0.0.1:\(adminPort)", "--header-timeout", "1"])
        try Network.waitForListening(adminPort)
        // `cat` returns when the gateway closes the connection; nothing is ever sent on it.
        let started = Date()
        let silent = try Command.run(
            "bash", ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(adminPort); exec cat <&3"], timeout: 15)
        XCTAssertEqual(silent.exitCode, 0, silent.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        // A request that never ends is swept the same way.
        let partial = try Command.run(
            "bash",
            [
                "-c",
                "exec 3<>/dev/tcp/127.0.0.1/\(adminPort); printf 'GET /healthz/ready HTTP/1.1\\r\\n' >&3; exec cat <&3",
            ],
            timeout: 15)
        XCTAssertEqual(partial.exitCode, 0, partial.stderr)
    }
}
