import Foundation
import TestSupport
import XCTest

/// `tollgate certs list`: every certificate the CA issued, its state, and when a gateway last saw it.
final class DeviceInventoryTests: XCTestCase {
    var work: URL!

    override func setUpWithError() throws { work = try Paths.temporaryDirectory("tollgate-inventory") }
    override func tearDown() { try? FileManager.default.removeItem(at: work) }

    private var out: String { work.appendingPathComponent("creds").path }

    @discardableResult
    private func certs(_ args: [String]) throws -> CommandResult {
        let result = try Command.run(Paths.tollgate, ["certs"] + args)
        XCTAssertEqual(
            result.exitCode, 0, "tollgate certs \(args.joined(separator: " ")): \(result.stdout)\(result.stderr)")
        return result
    }

    private func listJSON(_ extra: [String] = []) throws -> [[String: Any]] {
        let text = try certs(["list", "--out", out, "--json"] + extra).stdout
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]], text)
    }

    private func entry(_ entries: [[String: Any]], _ name: String, index: Int = 0) -> [String: Any]? {
        let matching = entries.filter { ($0["certificate"] as? [String: Any])?["name"] as? String == name }
        return index < matching.count ? matching[index] : nil
    }

    func testListShowsStatusesThroughIssueRenewRevoke() throws {
        try certs(["init", "--out", out])
        try certs(["server", "server-tls", "--out", out, "--dns", "localhost", "--ip", "127.0.0.1"])
        try certs(["client", "jinsu-macbook-tls", "--out", out, "--spiffe", "spiffe://jinsu-macbook"])
        try certs(["client", "jinsu-iphone-tls", "--out", out, "--spiffe", "spiffe://jinsu-iphone", "--days", "10"])
        try certs(["client", "old-laptop-tls", "--out", out, "--spiffe", "spiffe://old-laptop"])

        var entries = try listJSON()
        XCTAssertEqual(entries.count, 4)
        XCTAssertEqual(entry(entries, "jinsu-macbook-tls")?["status"] as? String, "valid")
        XCTAssertEqual(entry(entries, "jinsu-iphone-tls")?["status"] as? String, "expiring", "10 days left")
        XCTAssertEqual(
            (entry(entries, "jinsu-iphone-tls")?["certificate"] as? [String: Any])?["principal"] as? String,
            "jinsu-iphone")
        XCTAssertEqual((entry(entries, "server-tls")?["certificate"] as? [String: Any])?["kind"] as? String, "server")
        XCTAssertNil(entry(entries, "jinsu-macbook-tls")?["lastSeen"], "never seen by a gateway")

        // A renewal replaces; a revocation wins over everything.
        try certs(["client", "jinsu-macbook-tls", "--out", out, "--spiffe", "spiffe://jinsu-macbook"])
        try certs(["revoke", "old-laptop-tls", "--out", out])
        entries = try listJSON()
        XCTAssertEqual(entries.count, 5)
        XCTAssertEqual(entry(entries, "jinsu-macbook-tls", index: 0)?["status"] as? String, "valid", "newest first")
        XCTAssertEqual(entry(entries, "jinsu-macbook-tls", index: 1)?["status"] as? String, "replaced")
        XCTAssertEqual(entry(entries, "old-laptop-tls")?["status"] as? String, "revoked")

        let table = try certs(["list", "--out", out]).stdout
        let lines = table.split(separator: "\n")
        XCTAssertTrue(lines.first?.hasPrefix("NAME") ?? false, table)
        XCTAssertTrue(
            lines.contains {
                $0.hasPrefix("jinsu-iphone-tls") && $0.contains("jinsu-iphone") && $0.contains("expiring")
                    && $0.hasSuffix("never")
            },
            table)
        XCTAssertTrue(lines.contains { $0.hasPrefix("old-laptop-tls") && $0.contains("revoked") }, table)
    }

    func testLastSeenComesFromTheGateway() throws {
        try certs(["init", "--out", out])
        try certs(["server", "server-tls", "--out", out, "--dns", Manifests.host, "--dns", "localhost"])
        try certs(["client", "jinsu-macbook-tls", "--out", out, "--spiffe", "spiffe://jinsu-macbook"])
        try certs(["client", "jinsu-iphone-tls", "--out", out, "--spiffe", "spiffe://jinsu-iphone"])
        let harness = try GatewayHarness()
        defer { harness.stop() }
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService())
        let lastSeen = work.appendingPathComponent("last-seen.json").path
        try harness.startGateway(extraArguments: ["--last-seen", lastSeen], credentials: out)
        let ca = "\(out)/self-signed-ca-tls/ca.crt"
        let curl = try Command.run(
            "curl",
            [
                "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--resolve",
                "\(Manifests.host):\(harness.port()):127.0.0.1",
                "--cacert", ca, "--cert", "\(out)/jinsu-macbook-tls/tls.crt", "--key",
                "\(out)/jinsu-macbook-tls/tls.key",
                "https://\(Manifests.host):\(harness.port())/uuid",
            ])
        XCTAssertEqual(curl.stdout, "200", curl.stderr)
        // Written off the loops once a second.
        try waitUntil(timeout: 20, "the last-seen file") { FileManager.default.fileExists(atPath: lastSeen) }
        let entries = try listJSON(["--last-seen", lastSeen])
        let seen = try XCTUnwrap(entry(entries, "jinsu-macbook-tls")?["lastSeen"] as? Int)
        XCTAssertLessThan(abs(seen - Int(Date().timeIntervalSince1970)), 120)
        XCTAssertNil(entry(entries, "jinsu-iphone-tls")?["lastSeen"])
    }
}
