import Foundation
import TestSupport
import XCTest

/// Runs a scenario of Tests/Fixtures/h2/h2_probe.py (PyPI `h2`, which sends what curl won't), or of another
/// script there, against the harness's gateway and returns the JSON it printed. `client` nil: no certificate.
func h2Probe(
    _ harness: GatewayHarness, _ scenario: String, client: String? = "jinsu-macbook-tls", extra: [String] = [],
    timeout: TimeInterval = 60, script name: String = "h2_probe.py"
) throws -> [String: Any] {
    let script = Paths.repository.appendingPathComponent("Tests/Fixtures/h2/\(name)").path
    let r = try Command.run(
        "python3",
        [
            script, scenario, "--port", String(harness.port()), "--host", Manifests.host, "--ca",
            harness.pki.caCertificate, "--cert", client.map { harness.pki.path($0, "tls.crt") } ?? "", "--key",
            client.map { harness.pki.path($0, "tls.key") } ?? "",
        ] + extra, timeout: timeout)
    XCTAssertEqual(r.exitCode, 0, r.stderr)
    let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    return try XCTUnwrap(object, r.stdout + r.stderr)
}

/// Skips a test where the probe's library is missing (scripts/test installs it).
func requireH2Probe() throws {
    guard (try? Command.run("python3", ["-c", "import h2"]).exitCode) == 0 else {
        throw XCTSkip("needs PyPI h2 (scripts/test installs it)")
    }
}
