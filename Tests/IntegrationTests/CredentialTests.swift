import Foundation
import TestSupport
import XCTest

/// `credentialName` as Istio resolves it: a Secret manifest, a `NAME-cacert` CA, and a Kubernetes
/// secret volume whose `..data` symlink is swapped on renewal.
final class CredentialTests: XCTestCase {
    var harness: GatewayHarness!

    override func setUpWithError() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("vs.yaml", Manifests.virtualService())
    }

    override func tearDown() { harness.stop() }

    private func base64(_ credential: String, _ file: String) throws -> String {
        try Data(contentsOf: URL(fileURLWithPath: harness.pki.path(credential, file))).base64EncodedString()
    }

    func testSecretManifestServesAsCredential() throws {
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL", credential: "from-manifest"))
        try harness.write(
            "secret.yaml",
            """
            apiVersion: v1
            kind: Secret
            metadata: {name: from-manifest, namespace: istio-system}
            type: kubernetes.io/tls
            data:
              tls.crt: \(try base64("server-tls", "tls.crt"))
              tls.key: \(try base64("server-tls", "tls.key"))
              ca.crt: \(try base64("server-tls", "ca.crt"))
            """)
        try harness.startGateway(credentials: harness.workDirectory.appendingPathComponent("no-such-folder").path)
        XCTAssertEqual(try harness.curl("/uuid").status, 200)
        XCTAssertTrue(try harness.curl("/uuid", client: nil).stderr.contains("certificate required"))
    }

    func testCacertSecretSuppliesTheClientCA() throws {
        let credentials = harness.workDirectory.appendingPathComponent("credentials")
        let fm = FileManager.default
        try fm.createDirectory(at: credentials.appendingPathComponent("gw-cert"), withIntermediateDirectories: true)
        try fm.createDirectory(
            at: credentials.appendingPathComponent("gw-cert-cacert"), withIntermediateDirectories: true)
        for file in ["tls.crt", "tls.key"] {
            try fm.copyItem(
                atPath: harness.pki.path("server-tls", file),
                toPath: credentials.appendingPathComponent("gw-cert/\(file)").path)
        }
        // The main secret's ca.crt names the rogue CA; Istio takes the client CA from NAME-cacert instead.
        try fm.copyItem(
            atPath: harness.pki.path("rogue-ca-tls", "ca.crt"),
            toPath: credentials.appendingPathComponent("gw-cert/ca.crt").path)
        try fm.copyItem(
            atPath: harness.pki.path("server-tls", "ca.crt"),
            toPath: credentials.appendingPathComponent("gw-cert-cacert/ca.crt").path)
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL", credential: "gw-cert"))
        try harness.startGateway(credentials: credentials.path)
        XCTAssertEqual(try harness.curl("/uuid").status, 200)
        XCTAssertTrue(try harness.curl("/uuid", client: "rogue-client-tls").stderr.contains("unknown ca"))
    }

    func testKubernetesVolumeDataSwapIsPickedUp() throws {
        // The layout kubelet writes: NAME/..2026_x/{files}, NAME/..data -> ..2026_x, NAME/tls.crt -> ..data/tls.crt.
        let credentials = harness.workDirectory.appendingPathComponent("credentials")
        let volume = credentials.appendingPathComponent("server-tls")
        let fm = FileManager.default
        func writeVersion(_ name: String, from credential: String) throws {
            let dir = volume.appendingPathComponent(name)
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            for file in ["tls.crt", "tls.key", "ca.crt"] {
                try fm.copyItem(
                    atPath: harness.pki.path(credential, file), toPath: dir.appendingPathComponent(file).path)
            }
        }
        try writeVersion("..2026_first", from: "server-tls")
        try fm.createSymbolicLink(
            atPath: volume.appendingPathComponent("..data").path, withDestinationPath: "..2026_first")
        for file in ["tls.crt", "tls.key", "ca.crt"] {
            try fm.createSymbolicLink(
                atPath: volume.appendingPathComponent(file).path, withDestinationPath: "..data/\(file)")
        }
        try harness.write("gw.yaml", Manifests.gateway(mode: "SIMPLE", hosts: [Manifests.host, "other.example.test"]))
        try harness.startGateway(credentials: credentials.path)
        func servedSubject() throws -> String {
            try Command.run(
                "openssl", ["s_client", "-connect", "127.0.0.1:\(harness.port())", "-servername", Manifests.host],
                input: Data(), timeout: 20
            ).stdout.split(separator: "\n").first { $0.hasPrefix("subject=") }.map(String.init) ?? ""
        }
        XCTAssertTrue(try servedSubject().contains("CN = \(Manifests.host)"))

        // Swap ..data atomically to a new version holding another certificate, as kubelet does.
        try writeVersion("..2026_second", from: "other-server-tls")
        let before = harness.reloadCount
        try fm.createSymbolicLink(
            atPath: volume.appendingPathComponent("..data_tmp").path, withDestinationPath: "..2026_second")
        XCTAssertEqual(
            rename(volume.appendingPathComponent("..data_tmp").path, volume.appendingPathComponent("..data").path), 0)
        try harness.waitForReload(after: before)
        XCTAssertTrue(try servedSubject().contains("CN = other.example.test"))
    }
}
