import Foundation
import TestSupport
import XCTest

/// SIMPLE, MUTUAL and OPTIONAL_MUTUAL with real curl: who gets in, and which TLS alert the rest see.
final class TLSModeTests: XCTestCase {
    var harness: GatewayHarness!

    override func setUpWithError() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("vs.yaml", Manifests.virtualService())
    }

    override func tearDown() {
        harness.stop()
    }

    func testSimpleServesWithTrustedCAAndFailsVerificationWithout() throws {
        try harness.write("gw.yaml", Manifests.gateway(mode: "SIMPLE"))
        try harness.startGateway()
        let ok = try harness.curl("/uuid", client: nil)
        XCTAssertEqual(ok.status, 200, ok.stderr)
        XCTAssertTrue(ok.body.contains("\"uuid\""), ok.body)

        let untrusted = try harness.curl("/uuid", client: nil, trustCA: false)
        XCTAssertEqual(untrusted.exitCode, 60, "curl must fail server verification: \(untrusted.stderr)")

        // SIMPLE never asks for a client certificate, so none is forwarded even if curl has one.
        let withCert = try harness.curl("/headers")
        XCTAssertEqual(withCert.status, 200)
        XCTAssertFalse(withCert.body.lowercased().contains("x-forwarded-client-cert"), withCert.body)
    }

    /// RFC 7301 §3.2: a client whose ALPN offer has nothing in common gets `no_application_protocol`;
    /// one offering h2 gets h2, one offering only http/1.1 gets it, and one with no ALPN at all is served.
    func testALPNWithNothingInCommonIsRefusedWithTheRightAlert() throws {
        try harness.write("gw.yaml", Manifests.gateway(mode: "SIMPLE"))
        try harness.startGateway()
        func handshake(_ alpn: [String]) throws -> String {
            let args = ["s_client", "-connect", "127.0.0.1:\(harness.port())", "-servername", Manifests.host] + alpn
            let r = try Command.run("openssl", args, input: Data(), timeout: 20)
            return r.stdout + r.stderr
        }
        XCTAssertTrue(try handshake(["-alpn", "spdy/3,http/1.0"]).contains("no application protocol"))
        XCTAssertTrue(try handshake(["-alpn", "h2"]).contains("ALPN protocol: h2"))
        XCTAssertTrue(try handshake(["-alpn", "h2,http/1.1"]).contains("ALPN protocol: h2"))
        XCTAssertTrue(try handshake(["-alpn", "http/1.1"]).contains("ALPN protocol: http/1.1"))
        XCTAssertTrue(try handshake([]).contains("No ALPN negotiated"))
        XCTAssertEqual(try harness.curl("/uuid", client: nil).status, 200, "curl offers h2 and http/1.1")
    }

    func testMutualRequiresAValidClientCertificate() throws {
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.startGateway()

        let none = try harness.curl("/uuid", client: nil)
        XCTAssertNotEqual(none.exitCode, 0)
        XCTAssertTrue(none.stderr.contains("alert certificate required"), none.stderr)

        let none12 = try harness.curl("/uuid", client: nil, arguments: ["--tls-max", "1.2"])
        XCTAssertTrue(none12.stderr.contains("alert handshake failure"), none12.stderr)

        let good = try harness.curl(
            "/headers", arguments: ["-H", "X-Forwarded-Client-Cert: By=spoofed;URI=spiffe://admin"])
        XCTAssertEqual(good.status, 200, good.stderr)
        XCTAssertTrue(good.body.contains("URI=spiffe://jinsu-macbook"), good.body)
        XCTAssertTrue(good.body.contains("Subject=\\\"CN=jinsu-macbook\\\""), good.body)
        XCTAssertFalse(good.body.contains("spoofed"), "a client-supplied XFCC must be replaced: \(good.body)")
        // The connection's identity leaves the PEM out; the XFCC's Cert is still the client's certificate.
        let headers = try JSONSerialization.jsonObject(with: Data(good.body.utf8)) as? [String: [String: String]]
        let xfcc = headers?["headers"]?["x-forwarded-client-cert"] ?? ""
        let cert = xfcc.split(separator: ";").first { $0.hasPrefix("Cert=") }
            .map { String($0.dropFirst("Cert=\"".count).dropLast()).removingPercentEncoding ?? "" }
        XCTAssertEqual(
            cert, try String(contentsOfFile: harness.pki.path("jinsu-macbook-tls", "tls.crt"), encoding: .utf8),
            good.body)
        XCTAssertTrue(good.body.contains("\"x-forwarded-proto\": \"https\""), good.body)
        XCTAssertTrue(good.body.contains("\"x-forwarded-for\": \"127.0.0.1\""), good.body)

        let rogue = try harness.curl("/uuid", client: "rogue-client-tls")
        XCTAssertTrue(rogue.stderr.contains("alert unknown ca"), rogue.stderr)

        let expired = try harness.curl("/uuid", client: "expired-client-tls")
        XCTAssertTrue(expired.stderr.contains("alert certificate expired"), expired.stderr)

        let wrongUsage = try harness.curl("/uuid", client: "server-usage-client-tls")
        XCTAssertTrue(wrongUsage.stderr.contains("alert unsupported certificate"), wrongUsage.stderr)

        let log = harness.gateway!.log
        XCTAssertTrue(log.contains("client certificate required but none was presented"), log)
        XCTAssertTrue(log.contains("certificate has expired"), log)
    }

    func testOptionalMutualAcceptsNoCertificateButRejectsABadOne() throws {
        try harness.write("gw.yaml", Manifests.gateway(mode: "OPTIONAL_MUTUAL"))
        try harness.startGateway()

        let anonymous = try harness.curl("/headers", client: nil)
        XCTAssertEqual(anonymous.status, 200, anonymous.stderr)
        XCTAssertFalse(anonymous.body.lowercased().contains("x-forwarded-client-cert"), anonymous.body)

        let identified = try harness.curl("/headers")
        XCTAssertEqual(identified.status, 200)
        XCTAssertTrue(identified.body.contains("URI=spiffe://jinsu-macbook"), identified.body)

        let rogue = try harness.curl("/uuid", client: "rogue-client-tls")
        XCTAssertNotEqual(rogue.exitCode, 0)
        XCTAssertTrue(rogue.stderr.contains("alert unknown ca"), rogue.stderr)
    }

    func testCertificateRequestNamesTheTrustedCA() throws {
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.startGateway()
        let result = try Command.run(
            "openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(harness.port())", "-servername", Manifests.host, "-tls1_2",
                "-CAfile", harness.pki.caCertificate,
            ], input: Data(), timeout: 20)
        XCTAssertTrue(result.stdout.contains("Acceptable client certificate CA names"), result.stdout)
        XCTAssertTrue(result.stdout.contains("CN = self-signed-ca"), result.stdout)
    }

    func testOnlyModernProtocolsAndAEADCiphers() throws {
        try harness.write("gw.yaml", Manifests.gateway(mode: "SIMPLE"))
        try harness.startGateway()
        let port = harness.port()
        let tls11 = try Command.run(
            "openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-tls1_1"], input: Data(), timeout: 20)
        XCTAssertFalse(tls11.stdout.contains("Cipher is") && !tls11.stdout.contains("Cipher is (NONE)"), tls11.stdout)
        let cbc = try Command.run(
            "openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256"],
            input: Data(), timeout: 20)
        XCTAssertTrue(
            cbc.stdout.contains("Cipher is (NONE)") || cbc.stderr.contains("handshake failure"), cbc.stdout + cbc.stderr
        )
        let gcm = try Command.run(
            "openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(port)", "-tls1_2", "-CAfile", harness.pki.caCertificate,
                "-servername", Manifests.host,
            ], input: Data(), timeout: 20)
        XCTAssertTrue(
            gcm.stdout.contains("ECDHE-RSA-AES128-GCM-SHA256") || gcm.stdout.contains("ECDHE-RSA-AES256-GCM-SHA384")
                || gcm.stdout.contains("ECDHE-RSA-CHACHA20-POLY1305"), gcm.stdout)
        XCTAssertTrue(
            gcm.stdout.contains("Secure Renegotiation IS NOT supported")
                || gcm.stdout.contains("Secure Renegotiation IS supported"),
            gcm.stdout)
    }
}
