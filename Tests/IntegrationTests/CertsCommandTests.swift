import Foundation
import TestSupport
import XCTest

/// `tollgate certs`: what it issues must satisfy OpenSSL's own verifier, NSS's PKCS#12 import, and a
/// MUTUAL gateway; bad input must fail clearly and write nothing.
final class CertsCommandTests: XCTestCase {
    var work: URL!

    override func setUpWithError() throws { work = try Paths.temporaryDirectory("tollgate-certs") }
    override func tearDown() { try? FileManager.default.removeItem(at: work) }

    @discardableResult
    private func certs(_ args: [String], env: [String: String]? = nil, expect: Int32 = 0) throws -> CommandResult {
        let result = try Command.run(Paths.tollgate, ["certs"] + args, environment: env)
        XCTAssertEqual(
            result.exitCode, expect, "tollgate certs \(args.joined(separator: " ")): \(result.stdout)\(result.stderr)")
        return result
    }

    private func openssl(_ args: [String]) throws -> CommandResult { try Command.run("openssl", args) }
    private var out: String { work.appendingPathComponent("creds").path }
    private func file(_ folder: String, _ name: String) -> String { "\(out)/\(folder)/\(name)" }

    func testInitServerClientAndBundles() throws {
        try certs(["init", "--out", out, "--key", "ec384"])
        try certs([
            "server", "server-tls", "--out", out, "--dns", "gw.example.test", "--dns", "localhost", "--ip", "127.0.0.1",
            "--key", "rsa3072",
        ])
        let passwordFile = work.appendingPathComponent("pw").path
        try "s3cret\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        try certs([
            "client", "jinsu-macbook-tls", "--out", out, "--spiffe", "spiffe://jinsu-macbook", "--p12",
            "\(work.path)/mac.p12",
            "--password-file", passwordFile,
        ])

        let ca = file("self-signed-ca-tls", "ca.crt")
        XCTAssertEqual(
            try openssl(["verify", "-CAfile", ca, "-purpose", "sslserver", file("server-tls", "tls.crt")]).exitCode, 0)
        XCTAssertEqual(
            try openssl(["verify", "-CAfile", ca, "-purpose", "sslclient", file("jinsu-macbook-tls", "tls.crt")])
                .exitCode, 0)
        XCTAssertNotEqual(
            try openssl(["verify", "-CAfile", ca, "-purpose", "sslserver", file("jinsu-macbook-tls", "tls.crt")])
                .exitCode, 0,
            "a client certificate must not pass as a server certificate")

        let server = try openssl(["x509", "-in", file("server-tls", "tls.crt"), "-noout", "-text"]).stdout
        XCTAssertTrue(server.contains("DNS:gw.example.test, DNS:localhost, IP Address:127.0.0.1"), server)
        XCTAssertTrue(server.contains("TLS Web Server Authentication"), server)
        XCTAssertTrue(server.contains("CA:FALSE"), server)
        XCTAssertTrue(server.contains("Digital Signature, Key Encipherment"), server)
        XCTAssertTrue(server.contains("X509v3 Subject Key Identifier"), server)
        XCTAssertTrue(server.contains("X509v3 Authority Key Identifier"), server)
        XCTAssertTrue(server.contains("Public-Key: (3072 bit)"), server)
        let client = try openssl(["x509", "-in", file("jinsu-macbook-tls", "tls.crt"), "-noout", "-text", "-serial"])
            .stdout
        XCTAssertTrue(client.contains("URI:spiffe://jinsu-macbook"), client)
        XCTAssertTrue(client.contains("TLS Web Client Authentication"), client)
        let serial = client.split(separator: "\n").first { $0.hasPrefix("serial=") }!.dropFirst("serial=".count)
        XCTAssertGreaterThanOrEqual(serial.count, 31, "128-bit random serials: \(serial)")
        let caText = try openssl(["x509", "-in", ca, "-noout", "-text"]).stdout
        XCTAssertTrue(caText.contains("CA:TRUE") && caText.contains("Certificate Sign, CRL Sign"), caText)
        XCTAssertTrue(caText.contains("NIST CURVE: P-384"), caText)

        // The default (AES) and legacy (SHA1/3DES) encodings, read by OpenSSL and by NSS as browsers import them.
        try certs(
            ["p12", "\(out)/jinsu-macbook-tls", "--out", "\(work.path)/legacy.p12", "--legacy"],
            env: ["TOLLGATE_P12_PASSWORD": "s3cret"])
        for bundle in ["mac.p12", "legacy.p12"] {
            let info = try openssl([
                "pkcs12", "-in", "\(work.path)/\(bundle)", "-info", "-noout", "-passin", "pass:s3cret",
            ])
            XCTAssertEqual(info.exitCode, 0, info.stderr)
            if bundle == "legacy.p12" {
                XCTAssertTrue(info.stderr.contains("MAC: sha1"), info.stderr)
                XCTAssertTrue(info.stderr.contains("pbeWithSHA1And3-KeyTripleDES-CBC"), info.stderr)
            } else {
                XCTAssertTrue(info.stderr.contains("MAC: sha256"), info.stderr)
                XCTAssertTrue(info.stderr.contains("AES-256-CBC"), info.stderr)
            }
            let nssdb = work.appendingPathComponent("nss-\(bundle)").path
            try FileManager.default.createDirectory(atPath: nssdb, withIntermediateDirectories: true)
            XCTAssertEqual(try Command.run("certutil", ["-N", "-d", "sql:\(nssdb)", "--empty-password"]).exitCode, 0)
            let imported = try Command.run(
                "pk12util", ["-i", "\(work.path)/\(bundle)", "-d", "sql:\(nssdb)", "-W", "s3cret"])
            XCTAssertEqual(imported.exitCode, 0, imported.stdout + imported.stderr)
            let listed = try Command.run("certutil", ["-L", "-d", "sql:\(nssdb)"]).stdout
            XCTAssertTrue(listed.contains("jinsu-macbook"), listed)
        }
        let wrong = try Command.run(
            "openssl", ["pkcs12", "-in", "\(work.path)/mac.p12", "-info", "-noout", "-passin", "pass:nope"])
        XCTAssertNotEqual(wrong.exitCode, 0)

        let inspect = try certs(["inspect", "\(out)/jinsu-macbook-tls"]).stdout
        XCTAssertTrue(inspect.contains("principal:  jinsu-macbook"), inspect)
        XCTAssertTrue(inspect.contains("verify:     OK"), inspect)
    }

    func testBadInputFailsClearlyAndWritesNothing() throws {
        try certs(["init", "--out", out])
        let before = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        let noCA = try certs(["server", "s", "--out", out, "--ca", "missing-ca", "--dns", "a.test"], expect: 1)
        XCTAssertTrue(noCA.stderr.contains("cannot read \(out)/missing-ca/tls.crt"), noCA.stderr)
        let noPassword = try certs(
            [
                "client", "c", "--out", out, "--spiffe", "spiffe://c", "--p12", "\(work.path)/c.p12",
                "--password-file", "\(work.path)/absent",
            ], expect: 1)
        XCTAssertTrue(noPassword.stderr.contains("cannot read the password file"), noPassword.stderr)
        let badSpiffe = try certs(["client", "c", "--out", out, "--spiffe", "jinsu"], expect: 64)
        XCTAssertTrue(badSpiffe.stderr.contains("--spiffe must look like spiffe://NAME"), badSpiffe.stderr)
        try "garbage".write(toFile: "\(out)/self-signed-ca-tls/tls.key", atomically: true, encoding: .utf8)
        let badKey = try certs(["client", "c", "--out", out, "--spiffe", "spiffe://c"], expect: 1)
        XCTAssertTrue(badKey.stderr.contains("no private key found"), badKey.stderr)

        let manifest = work.appendingPathComponent("bad.yaml").path
        try """
        apiVersion: cert-manager.io/v1
        kind: Certificate
        metadata: {name: orphan}
        spec:
          secretName: orphan-tls
          commonName: orphan
          issuerRef: {name: nobody, kind: ClusterIssuer}
        """.write(toFile: manifest, atomically: true, encoding: .utf8)
        let orphan = try certs(["apply", "-f", manifest, "--out", out], expect: 1)
        XCTAssertTrue(orphan.stderr.contains("issuerRef ClusterIssuer nobody is not defined"), orphan.stderr)
        try
            "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: x}\nspec:\n  commonName: x\n  issuerRef: {name: i}\n"
            .write(toFile: manifest, atomically: true, encoding: .utf8)
        let missing = try certs(["apply", "-f", manifest, "--out", out], expect: 1)
        XCTAssertTrue(
            missing.stderr.contains("bad.yaml:4: error: spec: missing required field 'secretName'"), missing.stderr)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: out).sorted(), before, "nothing partial may be written")
    }

    func testSeedManifestsRenewalAndRevocationWithARunningGateway() throws {
        let seed = Paths.repository.appendingPathComponent("Tests/Fixtures/seed/certificates.yaml").path
        let first = try certs(["apply", "-f", seed, "--out", out])
        XCTAssertEqual(first.stdout.components(separatedBy: "issued ").count - 1, 3, first.stdout)
        XCTAssertTrue(first.stderr.contains("dnsNames entry 127.0.0.1 is an IP address"), first.stderr)
        XCTAssertTrue(
            try String(contentsOfFile: file("server-tls", "tls.key"), encoding: .utf8).hasPrefix(
                "-----BEGIN RSA PRIVATE KEY-----"),
            "encoding: PKCS1")
        let serverCert = try String(contentsOfFile: file("server-tls", "tls.crt"), encoding: .utf8)

        let again = try certs(["apply", "-f", seed, "--out", out])
        XCTAssertEqual(again.stdout.components(separatedBy: "kept ").count - 1, 3, again.stdout)
        XCTAssertEqual(
            try String(contentsOfFile: file("server-tls", "tls.crt"), encoding: .utf8), serverCert,
            "a second apply renews nothing")

        let oldClient = try String(contentsOfFile: file("jinsu-macbook-tls", "tls.crt"), encoding: .utf8)
        let forced = try certs(["apply", "-f", seed, "--out", out, "--force"])
        XCTAssertEqual(forced.stdout.components(separatedBy: "issued ").count - 1, 3, forced.stdout)
        XCTAssertNotEqual(try String(contentsOfFile: file("server-tls", "tls.crt"), encoding: .utf8), serverCert)
        // The renewed CA kept its key: a client certificate issued before still verifies.
        let oldClientPath = work.appendingPathComponent("old-client.crt").path
        try oldClient.write(toFile: oldClientPath, atomically: true, encoding: .utf8)
        XCTAssertEqual(
            try openssl(["verify", "-CAfile", file("self-signed-ca-tls", "tls.crt"), oldClientPath]).exitCode, 0)

        // A second device, then the gateway on these credentials.
        try certs(["client", "jinsu-iphone-tls", "--out", out, "--spiffe", "spiffe://jinsu-iphone"])
        let harness = try GatewayHarness()
        defer { harness.stop() }
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway(credentials: out)
        func curl(_ client: String) throws -> CurlResult {
            try harness.curl(
                "/uuid", client: nil, trustCA: false,
                arguments: [
                    "--cacert", file("server-tls", "ca.crt"), "--cert", file(client, "tls.crt"), "--key",
                    file(client, "tls.key"),
                ])
        }
        XCTAssertEqual(try curl("jinsu-macbook-tls").status, 200)
        XCTAssertEqual(try curl("jinsu-iphone-tls").status, 200)

        let before = harness.reloadCount
        let revoked = try certs(["revoke", "jinsu-macbook-tls", "--out", out])
        XCTAssertTrue(revoked.stdout.contains("revoked CN=jinsu-macbook"), revoked.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: file("server-tls", "ca.crl")))
        try harness.waitForReload(after: before)
        let refused = try curl("jinsu-macbook-tls")
        XCTAssertNotEqual(refused.exitCode, 0)
        XCTAssertTrue(refused.stderr.contains("alert certificate revoked"), refused.stderr)
        XCTAssertEqual(try curl("jinsu-iphone-tls").status, 200)
        let inspect = try certs(["inspect", "\(out)/jinsu-macbook-tls"], expect: 1)
        XCTAssertTrue(inspect.stdout.contains("verify:     certificate revoked"), inspect.stdout)
    }
}
