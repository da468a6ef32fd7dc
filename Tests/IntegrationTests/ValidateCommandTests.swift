import Foundation
import TestSupport
import XCTest

/// `tollgate validate`: findings as `file:line: severity: message`, non-zero exit on errors.
final class ValidateCommandTests: XCTestCase {
    /// An encrypted key must not make OpenSSL prompt on the terminal (a reload would hang): a clear error names it.
    func testEncryptedPrivateKeyIsAClearErrorNotAPrompt() throws {
        let harness = try GatewayHarness()
        defer { harness.stop() }
        let folder = harness.workDirectory.appendingPathComponent("credentials/encrypted-tls")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: harness.pki.path("server-tls", "tls.crt"), toPath: folder.appendingPathComponent("tls.crt").path)
        let encrypt = try Command.run(
            "openssl",
            [
                "pkey", "-in", harness.pki.path("server-tls", "tls.key"), "-aes256", "-passout", "pass:secret",
                "-out", folder.appendingPathComponent("tls.key").path,
            ])
        XCTAssertEqual(encrypt.exitCode, 0, encrypt.stderr)
        try harness.write("gw.yaml", Manifests.gateway(mode: "SIMPLE", credential: "encrypted-tls"))
        // No standard input at all: a prompt would fail or hang here instead of reporting.
        let result = try Command.run(
            Paths.tollgate,
            [
                "validate", harness.configDirectory.path, "--credentials",
                harness.workDirectory.appendingPathComponent("credentials").path,
            ], timeout: 20)
        XCTAssertEqual(result.exitCode, 1, result.stdout + result.stderr)
        let out = result.stdout + result.stderr
        XCTAssertTrue(out.contains("encrypted-tls") && out.contains("encrypted with a passphrase"), out)
        XCTAssertTrue(out.contains("gw.yaml:"), out)
    }

    func testFindingsAndExitCodes() throws {
        let harness = try GatewayHarness()
        defer { harness.stop() }
        try harness.write(
            "gw.yaml", Manifests.gateway(mode: "MUTUAL", hosts: [Manifests.host, "not-in-cert.example.test"]))
        try harness.write(
            "vs.yaml",
            Manifests.virtualService(
                routes: """
                        - route: [{destination: {host: server, port: {number: 80}}}]
                        - match: [{uri: {prefix: /}}]
                          route: [{destination: {host: server, port: {number: 80}}}]
                    """) + """

                    ---
                    apiVersion: networking.istio.io/v1
                    kind: VirtualService
                    metadata: {name: orphan}
                    spec:
                      hosts: [x.test]
                      gateways: [istio-system/nowhere]
                      http: [{route: [{destination: {host: server}}]}]
                    """)
        let config = harness.configDirectory.path
        let failing = try Command.run(
            Paths.tollgate,
            [
                "validate", config, "--credentials", harness.pki.directory.path,
                "--service", "server=127.0.0.1:9",
            ])
        XCTAssertEqual(failing.exitCode, 1, failing.stdout)
        let out = failing.stdout
        XCTAssertTrue(
            out.contains("vs.yaml:15: error: spec.gateways: gateway istio-system/nowhere does not exist"), out)
        XCTAssertTrue(
            out.contains(
                "vs.yaml:11: warning: spec.http[1]: route 1 can never be chosen: route 0 matches every request it matches"
            ), out)
        XCTAssertTrue(
            out.contains(
                "warning: spec.servers.tls: the server certificate (CN=\(Manifests.host)) does not cover host not-in-cert.example.test"
            ), out)

        try harness.remove("vs.yaml")
        try harness.write("vs.yaml", Manifests.virtualService())
        let passing = try Command.run(
            Paths.tollgate,
            [
                "validate", config, "--credentials", harness.pki.directory.path,
                "--service", "server=127.0.0.1:9",
            ])
        XCTAssertEqual(passing.exitCode, 0, passing.stdout)
        XCTAssertTrue(passing.stdout.contains("ok: 1 gateways, 1 virtual services"), passing.stdout)

        try harness.write(
            "bad.yaml",
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g2}\nspec:\n  servers: [{hosts: [a], port: {number: 1, protocol: HTTP}, tls: {mood: x}}]\n"
        )
        let broken = try Command.run(Paths.tollgate, ["validate", config, "--credentials", harness.pki.directory.path])
        XCTAssertEqual(broken.exitCode, 1)
        XCTAssertTrue(
            broken.stdout.contains("bad.yaml:5: error: spec.servers[0].tls.mood: unknown field"), broken.stdout)
    }

    func testCipherSuitesBelowTheDefaultPolicyAreWarnedAbout() throws {
        let harness = try GatewayHarness()
        defer { harness.stop() }
        try harness.write(
            "gw.yaml",
            Manifests.gateway(
                mode: "MUTUAL",
                extraTLS: """

                            cipherSuites:
                            - ECDHE-RSA-AES128-GCM-SHA256
                            - AES128-GCM-SHA256
                            - ECDHE-RSA-AES128-SHA
                            - '@SECLEVEL=0'
                            - ECDHE-ECDSA-CHACHA20-POLY1305
                    """))
        try harness.write("vs.yaml", Manifests.virtualService())
        let result = try Command.run(
            Paths.tollgate,
            [
                "validate", harness.configDirectory.path, "--credentials", harness.pki.directory.path,
                "--service", "server=127.0.0.1:9",
            ])
        XCTAssertEqual(result.exitCode, 0, "weak suites are a warning, not an error: \(result.stdout)")
        let out = result.stdout
        XCTAssertTrue(
            out.contains(
                "gw.yaml:20: warning: spec.servers[0].tls.cipherSuites[1]: AES128-GCM-SHA256 is below Tollgate's default policy: static RSA key exchange (no forward secrecy)"
            ), out)
        XCTAssertTrue(
            out.contains(
                "gw.yaml:21: warning: spec.servers[0].tls.cipherSuites[2]: ECDHE-RSA-AES128-SHA is below Tollgate's default policy: CBC with a separate MAC (not AEAD)"
            ), out)
        XCTAssertTrue(
            out.contains(
                "gw.yaml:22: warning: spec.servers[0].tls.cipherSuites[3]: @SECLEVEL=0 lowers OpenSSL's security level"),
            out)
        XCTAssertFalse(out.contains("cipherSuites[0]") || out.contains("cipherSuites[4]"), out)
        XCTAssertTrue(out.contains("3 warning(s)"), out)

        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL", extraTLS: "\n        cipherSuites: [HIGH]"))
        let high = try Command.run(
            Paths.tollgate,
            [
                "validate", harness.configDirectory.path, "--credentials", harness.pki.directory.path,
                "--service", "server=127.0.0.1:9",
            ]
        ).stdout
        XCTAssertNotNil(
            high.range(
                of:
                    #"gw.yaml:18: warning: spec.servers\[0\].tls.cipherSuites\[0\]: HIGH enables \d+ suites below Tollgate's default policy:"#,
                options: .regularExpression), high)
        XCTAssertTrue(high.contains("static RSA key exchange (no forward secrecy) (AES256-GCM-SHA384"), high)
    }
}
