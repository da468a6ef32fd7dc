import Foundation
import TestSupport
import XCTest

/// What a handshake sends beyond what the protocol needs costs CPU on every connection: the server's
/// chain is the one its certificate file holds, and a full TLS 1.3 handshake issues one ticket.
final class HandshakeWorkTests: XCTestCase {
    var harness: GatewayHarness!

    override func tearDown() { harness?.stop() }

    /// A MUTUAL gateway serving `served.test` with the `chain-client` leaf (issued by the `chain-int-ca`
    /// intermediate) and `chainInFile` appended to its certificate file, trusting clients of the
    /// intermediate and the root: the client CA store holds the intermediate the file may leave out.
    private func startGateway(chainInFile: Bool) throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        let pki = harness.pki
        let folder = harness.workDirectory.appendingPathComponent("credentials/served-tls")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let clientChain = try String(contentsOfFile: pki.path("chain-client-tls", "tls.crt"), encoding: .utf8)
        let intermediate = try String(contentsOfFile: pki.path("chain-int-ca-tls", "tls.crt"), encoding: .utf8)
        let root = try String(contentsOfFile: pki.path("chain-root-ca-tls", "ca.crt"), encoding: .utf8)
        let end = "-----END CERTIFICATE-----\n"
        let leaf = String(clientChain[..<clientChain.range(of: end)!.upperBound])
        try (chainInFile ? leaf + intermediate : leaf).write(
            to: folder.appendingPathComponent("tls.crt"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            atPath: pki.path("chain-client-tls", "tls.key"), toPath: folder.appendingPathComponent("tls.key").path)
        try (intermediate + root).write(to: folder.appendingPathComponent("ca.crt"), atomically: true, encoding: .utf8)
        try harness.write(
            "gw.yaml", Manifests.gateway(mode: "MUTUAL", credential: "served-tls", hosts: ["served.test"]))
        try harness.write("vs.yaml", Manifests.virtualService(hosts: ["served.test"]))
        try harness.startGateway(credentials: harness.workDirectory.appendingPathComponent("credentials").path)
    }

    /// The certificates the server sent, in PEM, as `openssl s_client -showcerts` prints them.
    private func servedCertificates(_ version: String) throws -> Int {
        signal(SIGPIPE, SIG_IGN)
        let result = try Command.run(
            "openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(harness.port())", "-servername", "served.test", version,
                "-showcerts", "-ign_eof", "-cert", harness.pki.path("chain-client-tls", "tls.crt"), "-key",
                harness.pki.path("chain-client-tls", "tls.key"),
            ], input: Data("GET / HTTP/1.1\r\nHost: served.test\r\nConnection: close\r\n\r\n".utf8), timeout: 20)
        XCTAssertTrue(result.stdout.contains("HTTP/1.1 200"), result.stdout + result.stderr)
        return result.stdout.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1
    }

    /// OpenSSL would otherwise complete a leaf-only file from the client CA store on every handshake
    /// (a chain build and a signature check each time), and send an intermediate nobody configured.
    func testServerSendsOnlyTheChainItsFileHolds() throws {
        try startGateway(chainInFile: false)
        for version in ["-tls1_2", "-tls1_3"] {
            XCTAssertEqual(try servedCertificates(version), 1, version)
        }
    }

    func testServerSendsTheIntermediateItsFileHolds() throws {
        try startGateway(chainInFile: true)
        for version in ["-tls1_2", "-tls1_3"] {
            XCTAssertEqual(try servedCertificates(version), 2, version)
        }
    }

    /// Each TLS 1.3 ticket costs OpenSSL 3.0 a re-parse of the client certificate: a full handshake issues
    /// one, and so does each resumption (its successor), and resumption goes on working.
    func testOneTicketPerHandshake() throws {
        harness = try GatewayHarness.running(mode: "MUTUAL")
        let pki = harness.pki
        var session = harness.workDirectory.appendingPathComponent("s0.pem").path
        let first = try SessionClient.get(
            port: harness.port(), serverName: Manifests.host, client: "jinsu-macbook-tls", pki: pki,
            resumption: .tls13Ticket, sessionOut: session)
        XCTAssertEqual(first.status, 200, first.output)
        XCTAssertEqual(Self.tickets(first.output), 1, first.output)
        for step in 1...2 {
            let next = harness.workDirectory.appendingPathComponent("s\(step).pem").path
            let resumed = try SessionClient.get(
                port: harness.port(), serverName: Manifests.host, client: nil, pki: pki, resumption: .tls13Ticket,
                sessionOut: next, sessionIn: session)
            XCTAssertTrue(resumed.reused, "step \(step): \(resumed.output)")
            XCTAssertEqual(resumed.status, 200, resumed.output)
            XCTAssertEqual(Self.tickets(resumed.output), 1, resumed.output)
            session = next
        }
    }

    private static func tickets(_ output: String) -> Int {
        output.components(separatedBy: "Post-Handshake New Session Ticket arrived").count - 1
    }
}
