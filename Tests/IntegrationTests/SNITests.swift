import Foundation
import TestSupport
import XCTest

/// Several Gateway servers on one port: the certificate, client-CA and mode follow SNI.
final class SNITests: XCTestCase {
    var harness: GatewayHarness!

    override func tearDown() { harness.stop() }

    private func servedSubject(serverName: String?) throws -> String {
        var args = ["s_client", "-connect", "127.0.0.1:\(harness.port())", "-CAfile", harness.pki.caCertificate]
        if let serverName { args += ["-servername", serverName] } else { args.append("-noservername") }
        let result = try Command.run("openssl", args, input: Data(), timeout: 20)
        return result.stdout.split(separator: "\n").first { $0.hasPrefix("subject=") }.map(String.init) ?? result.stdout
            + result.stderr
    }

    func testServerCertificateAndModeFollowSNI() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write(
            "gw.yaml",
            """
            apiVersion: networking.istio.io/v1beta1
            kind: Gateway
            metadata: {name: mtls-gateway, namespace: istio-system}
            spec:
              servers:
              - hosts: ['\(Manifests.host)']
                port: {number: 443, name: https, protocol: HTTPS}
                tls: {mode: MUTUAL, credentialName: server-tls}
              - hosts: ['other.example.test', '*.wild.example.test']
                port: {number: 443, name: https-other, protocol: HTTPS}
                tls: {mode: SIMPLE, credentialName: other-server-tls}
            """)
        try harness.write(
            "vs.yaml", Manifests.virtualService(hosts: [Manifests.host, "other.example.test", "*.wild.example.test"]))
        try harness.startGateway()

        XCTAssertTrue(try servedSubject(serverName: Manifests.host).contains("CN = \(Manifests.host)"))
        XCTAssertTrue(try servedSubject(serverName: "other.example.test").contains("CN = other.example.test"))
        XCTAssertTrue(try servedSubject(serverName: "a.wild.example.test").contains("CN = other.example.test"))
        // No SNI (a client dialing an IP): the first server answers.
        XCTAssertTrue(try servedSubject(serverName: nil).contains("CN = \(Manifests.host)"))

        // The other host is SIMPLE: no client certificate needed there, while the first stays MUTUAL.
        let simple = try harness.curl("/uuid", host: "other.example.test", client: nil)
        XCTAssertEqual(simple.status, 200, simple.stderr)
        let mutual = try harness.curl("/uuid", client: nil)
        XCTAssertTrue(mutual.stderr.contains("certificate required"), mutual.stderr)

        // An SNI no server lists is refused, as Envoy refuses a connection with no matching filter chain.
        let unknown = try harness.curl("/uuid", host: "nobody.example.test", client: nil)
        XCTAssertNotEqual(unknown.exitCode, 0)
        XCTAssertTrue(unknown.stderr.contains("unrecognized name"), unknown.stderr)

        // The SIMPLE host's TLS session must not reach the MUTUAL host's routes (421, not a bypass).
        let smuggledHost = try harness.curl(
            "/uuid", host: "other.example.test", client: nil, arguments: ["-H", "Host: \(Manifests.host)"])
        XCTAssertEqual(smuggledHost.status, 421, smuggledHost.body)
    }
}
