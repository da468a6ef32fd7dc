import Foundation
import TestSupport
import XCTest

/// Live reload: file changes picked up without a restart, no request failing meanwhile, renewed
/// certificates served to new handshakes, broken edits rejected while the old configuration serves.
final class ReloadTests: XCTestCase {
    var harness: GatewayHarness!

    override func tearDown() { harness.stop() }

    func testEditsUnderTrafficLoseNoRequestAndBrokenEditsAreRejected() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway()

        // Continuous traffic on fresh connections and on one keep-alive connection while the config changes.
        let url = "https://\(Manifests.host):\(harness.port())/uuid"
        let base =
            [
                "-s", "-o", "/dev/null", "-w", "%{http_code}\n", "--resolve",
                "\(Manifests.host):\(harness.port()):127.0.0.1",
                "--cacert", harness.pki.caCertificate,
            ] + harness.pki.clientArguments("jinsu-macbook-tls")
        let traffic = DispatchGroup()
        let results = LockedCodes()
        for keepAlive in [false, true] {
            traffic.enter()
            DispatchQueue.global().async {
                defer { traffic.leave() }
                for _ in 0..<(keepAlive ? 4 : 60) {
                    let urls = keepAlive ? Array(repeating: url, count: 150) : [url]
                    if let r = try? Command.run("curl", base + urls) {
                        results.add(
                            r.stdout.split(separator: "\n").map(String.init).filter { $0.count == 3 && Int($0) != nil })
                    }
                }
            }
        }
        for round in 0..<3 {
            let before = harness.reloadCount
            try harness.write("vs.yaml", Manifests.virtualService() + "\n# edit \(round)\n")
            try harness.waitForReload(after: before)
        }
        let before = harness.reloadCount
        try harness.write(
            "zz-broken.yaml",
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\nspec:\n  hostz: [x]\n")
        try waitUntil(timeout: 20, "the broken edit to be rejected") {
            harness.gateway!.log.contains("configuration rejected")
        }
        XCTAssertEqual(harness.reloadCount, before)
        XCTAssertTrue(
            harness.gateway!.log.contains("zz-broken.yaml:5: error: spec.hostz: unknown field"), harness.gateway!.log)
        traffic.wait()
        let codes = results.codes
        XCTAssertGreaterThan(codes.count, 600)
        XCTAssertEqual(codes.filter { $0 != "200" }, [], "every request during reloads must succeed")
        XCTAssertEqual(try harness.curl("/uuid").status, 200)
    }

    func testARenewedCertificateIsServedWithoutRestart() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        let credentials = harness.workDirectory.appendingPathComponent("credentials")
        let serverDir = credentials.appendingPathComponent("server-tls")
        try FileManager.default.createDirectory(at: serverDir, withIntermediateDirectories: true)
        for file in ["tls.crt", "tls.key", "ca.crt"] {
            try FileManager.default.copyItem(
                atPath: harness.pki.path("server-tls", file), toPath: serverDir.appendingPathComponent(file).path)
        }
        try harness.write("gw.yaml", Manifests.gateway(mode: "SIMPLE"))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway(credentials: credentials.path)

        func servedSerial() throws -> String {
            let out = try Command.run(
                "openssl", ["s_client", "-connect", "127.0.0.1:\(harness.port())", "-servername", Manifests.host],
                input: Data(), timeout: 20
            ).stdout
            let pem =
                out.components(separatedBy: "-----BEGIN CERTIFICATE-----").dropFirst().first.map {
                    "-----BEGIN CERTIFICATE-----" + $0.components(separatedBy: "-----END CERTIFICATE-----")[0]
                        + "-----END CERTIFICATE-----\n"
                } ?? ""
            return try Command.run("openssl", ["x509", "-noout", "-serial"], input: Data(pem.utf8)).stdout
        }
        let original = try servedSerial()
        XCTAssertTrue(original.hasPrefix("serial="), original)

        // Renew: a new key and certificate for the same names, signed by the same CA, written in place.
        let ca = harness.pki.directory.appendingPathComponent("self-signed-ca-tls")
        let key = serverDir.appendingPathComponent("new.key").path
        let csr = harness.workDirectory.appendingPathComponent("new.csr").path
        let ext = harness.workDirectory.appendingPathComponent("ext.cnf")
        try "subjectAltName=DNS:\(Manifests.host)\nextendedKeyUsage=serverAuth\n".write(
            to: ext, atomically: true, encoding: .utf8)
        try Command.run(
            "openssl",
            [
                "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                "-subj", "/CN=\(Manifests.host)", "-out", csr,
            ])
        try Command.run(
            "openssl",
            [
                "x509", "-req", "-in", csr, "-CA", ca.appendingPathComponent("tls.crt").path,
                "-CAkey", ca.appendingPathComponent("tls.key").path, "-set_serial", "0x7E57ED", "-days", "30",
                "-extfile", ext.path, "-out", serverDir.appendingPathComponent("new.crt").path,
            ])
        let before = harness.reloadCount
        try FileManager.default.removeItem(at: serverDir.appendingPathComponent("tls.key"))
        try FileManager.default.moveItem(atPath: key, toPath: serverDir.appendingPathComponent("tls.key").path)
        try FileManager.default.removeItem(at: serverDir.appendingPathComponent("tls.crt"))
        try FileManager.default.moveItem(
            at: serverDir.appendingPathComponent("new.crt"), to: serverDir.appendingPathComponent("tls.crt"))
        try harness.waitForReload(after: before)
        XCTAssertEqual(try servedSerial().trimmingCharacters(in: .whitespacesAndNewlines), "serial=7E57ED")
        XCTAssertEqual(try harness.curl("/uuid", client: nil).status, 200)
    }
}

private final class LockedCodes: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String] = []
    func add(_ codes: [String]) { lock.withLock { values += codes } }
    var codes: [String] { lock.withLock { values } }
}

/// A reload that tightens client verification must not leave connections verified the old way in use.
final class ReloadTighteningTests: XCTestCase {
    func testConnectionsVerifiedUnderOldSettingsAreClosedWhenVerificationChanges() throws {
        let harness = try GatewayHarness.running(mode: "SIMPLE")
        defer { harness.stop() }
        let client = try InteractiveTLSClient(
            port: harness.port(), serverName: Manifests.host, caFile: harness.pki.caCertificate,
            directory: harness.workDirectory)
        let request = "GET /uuid HTTP/1.1\r\nHost: \(Manifests.host)\r\n\r\n"
        client.send(request)
        try client.waitFor("HTTP/1.1 200", count: 1)

        // A reload that does not touch verification: the connection goes on.
        var before = harness.reloadCount
        try harness.write("vs.yaml", Manifests.virtualService() + "\n# an unrelated edit\n")
        try harness.waitForReload(after: before)
        client.send(request)
        try client.waitFor("HTTP/1.1 200", count: 2)

        // SIMPLE to MUTUAL: this connection never presented a certificate, so it is closed as soon as
        // the new configuration is in force, without waiting for its next request.
        before = harness.reloadCount
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.waitForReload(after: before)
        try waitUntil(timeout: 10, "the gateway to close the old connection") { !client.isRunning }
        XCTAssertEqual(client.output.components(separatedBy: "HTTP/1.1 200").count - 1, 2, client.output)
        XCTAssertTrue(
            harness.gateway!.log.contains("closing a connection verified under a previous TLS configuration"),
            harness.gateway!.log)
    }
}
