import Foundation
import TestSupport
import XCTest

/// Expiry before it bites: a device whose certificate ends in ten days is warned on whoami, and the
/// gateway exports when each verified principal's certificate ends.
final class CertificateExpiryTests: XCTestCase {
    func testTheMetricAndTheBannerForACertificateEndingInTenDays() throws {
        let harness = try GatewayHarness()
        defer { harness.stop() }
        try harness.startUpstream()
        try harness.write(
            "gw.yaml",
            Manifests.gateway(mode: "MUTUAL").replacingOccurrences(
                of: "  name: mtls-gateway",
                with: "  name: mtls-gateway\n  annotations: {tollgate.io/whoami-path: /.tollgate/whoami}"))
        try harness.write("vs.yaml", Manifests.virtualService())
        let adminPort = try Network.freePort()
        try harness.startGateway(extraArguments: ["--admin", "127.0.0.1:\(adminPort)"])

        let laptop = try harness.curl("/.tollgate/whoami", client: "field-laptop-tls")
        XCTAssertEqual(laptop.status, 200, laptop.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(laptop.body.utf8)) as? [String: Any])
        XCTAssertTrue(
            (json["warning"] as? String)?.hasPrefix("This device's certificate expires on") ?? false, laptop.body)
        let page = try harness.curl(
            "/.tollgate/whoami", client: "field-laptop-tls", arguments: ["-H", "Accept: text/html"])
        XCTAssertTrue(
            page.body.contains("class=\"warning\" role=\"alert\">This device&#39;s certificate expires"), page.body)
        let iphone = try harness.curl("/.tollgate/whoami", client: "jinsu-iphone-tls")
        XCTAssertFalse(iphone.body.contains("\"warning\""), "two years left: no warning")
        // A principal carrying CR LF (a CA that signs whatever it is asked) and a refused client.
        XCTAssertEqual(try harness.curl("/uuid", client: "injection-client-tls").status, 200)
        XCTAssertNotEqual(try harness.curl("/uuid", client: "rogue-client-tls").exitCode, 0)

        let metrics = try Command.run("curl", ["-sS", "http://127.0.0.1:\(adminPort)/stats/prometheus"]).stdout
        let lines = metrics.split(separator: "\n").filter {
            $0.hasPrefix("tollgate_client_certificate_expiry_timestamp_seconds{")
        }
        let laptopLine = try XCTUnwrap(
            lines.first {
                $0.hasPrefix(
                    "tollgate_client_certificate_expiry_timestamp_seconds{principal=\"cluster.local/ns/field-engineering/sa/jinsu-field-laptop-with-a-long-service-account-name\"} "
                )
            }, metrics)
        let expiry = try XCTUnwrap(Double(laptopLine.split(separator: " ").last ?? ""))
        let tenDays = Date().timeIntervalSince1970 + 10 * 86_400
        XCTAssertLessThan(abs(expiry - tenDays), 86_400 + 60, String(laptopLine))
        XCTAssertFalse(metrics.split(separator: "\n").contains { $0.hasPrefix("x-injected") }, metrics)
        XCTAssertEqual(lines.count, 2, "verified principals only: the laptop and the iphone (a SAN with CR LF is none)")
    }
}
