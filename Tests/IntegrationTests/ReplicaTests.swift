import Foundation
import TestSupport
import XCTest

/// Replicas behind a load balancer: with one shared key file a client resumes on any replica;
/// rotation keeps older tickets opening until their key is dropped; a bad edit changes nothing.
final class ReplicaTests: XCTestCase {
    var replicas: [GatewayHarness] = []

    override func tearDown() {
        for replica in replicas { replica.stop() }
    }

    private func replica(keyFile: String?) throws -> GatewayHarness {
        let harness = try GatewayHarness()
        replicas.append(harness)
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway(extraArguments: keyFile.map { ["--session-ticket-keys", $0] } ?? [])
        return harness
    }

    private func get(
        _ harness: GatewayHarness, client: String? = nil, _ resumption: SessionClient.Resumption, out: String? = nil,
        in sessionIn: String? = nil
    ) throws -> SessionClient.Connection {
        try SessionClient.get(
            port: harness.port(), serverName: Manifests.host, client: client, pki: harness.pki, resumption: resumption,
            sessionOut: out, sessionIn: sessionIn)
    }

    private func ticketKeys(_ arguments: [String]) throws -> CommandResult {
        try Command.run(Paths.tollgate, ["certs", "ticket-keys"] + arguments)
    }

    func testSharedKeyFileResumesAcrossReplicasAndRotates() throws {
        let work = try Paths.temporaryDirectory("tollgate-replicas")
        defer { try? FileManager.default.removeItem(at: work) }
        let keyFile = work.appendingPathComponent("ticket.keys").path
        let written = try ticketKeys(["--out", keyFile])
        XCTAssertEqual(written.exitCode, 0, written.stderr)
        let mode = try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        XCTAssertNotEqual(
            try ticketKeys(["--out", keyFile]).exitCode, 0, "an existing file is only rotated, never overwritten")

        let a = try replica(keyFile: keyFile)
        let b = try replica(keyFile: keyFile)
        let alone = try replica(keyFile: nil)

        for resumption in [SessionClient.Resumption.tls13Ticket, .tls12Ticket] {
            let session = work.appendingPathComponent("\(resumption).pem").path
            XCTAssertEqual(try get(a, client: "jinsu-macbook-tls", resumption, out: session).status, 200)
            let onB = try get(b, resumption, in: session)
            XCTAssertTrue(onB.reused, "\(resumption) on the other replica: \(onB.output)")
            XCTAssertEqual(onB.status, 200, onB.output)
            XCTAssertTrue(
                onB.output.contains("URI=spiffe://jinsu-macbook"), "the resumed session keeps its verified identity")
            XCTAssertFalse(try get(alone, resumption, in: session).reused, "a replica without the file cannot open it")
        }

        // Rotation: a new key seals, the old one still opens.
        let old = work.appendingPathComponent("old.pem").path
        XCTAssertEqual(try get(a, client: "jinsu-macbook-tls", .tls13Ticket, out: old).status, 200)
        var reloads = a.gateway!.log.components(separatedBy: "session ticket keys reloaded").count
        XCTAssertEqual(try ticketKeys(["--out", keyFile, "--rotate"]).exitCode, 0)
        XCTAssertEqual(try String(contentsOfFile: keyFile, encoding: .utf8).split(separator: "\n").count, 2)
        try waitUntil(timeout: 15, "replica a to reload its keys") {
            a.gateway!.log.components(separatedBy: "session ticket keys reloaded").count > reloads
        }
        XCTAssertTrue(
            try get(a, .tls13Ticket, in: old).reused, "a ticket of the previous key still opens after rotation")

        // A bad edit is refused and the keys in use stay.
        reloads = a.gateway!.log.components(separatedBy: "session ticket keys rejected").count
        try "not a key\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        try waitUntil(timeout: 15, "replica a to reject the edit") {
            a.gateway!.log.components(separatedBy: "session ticket keys rejected").count > reloads
        }
        XCTAssertTrue(try get(a, .tls13Ticket, in: old).reused)

        // Dropping the old key ends its tickets.
        try FileManager.default.removeItem(atPath: keyFile)
        XCTAssertEqual(try ticketKeys(["--out", keyFile]).exitCode, 0)
        reloads = a.gateway!.log.components(separatedBy: "session ticket keys reloaded").count
        try waitUntil(timeout: 15, "replica a to load the new file") {
            a.gateway!.log.components(separatedBy: "session ticket keys reloaded").count > reloads
        }
        let dropped = try get(a, .tls13Ticket, in: old)
        XCTAssertFalse(dropped.reused, dropped.output)
        XCTAssertFalse(
            dropped.reachedUpstream, "MUTUAL: without resumption and without a certificate, nothing is served")
    }

    func testBadKeyFileIsRefusedAtStart() throws {
        let harness = try GatewayHarness()
        replicas.append(harness)
        let keyFile = harness.workDirectory.appendingPathComponent("bad.keys").path
        try "# header\n\(String(repeating: "A", count: 64))\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        let result = try Command.run(
            Paths.tollgate,
            [
                "serve", "--config", harness.configDirectory.path, "--credentials", harness.pki.directory.path,
                "--port-map", "443=\(try Network.freePort())", "--session-ticket-keys", keyFile,
            ], timeout: 20)
        XCTAssertNotEqual(result.exitCode, 0)
        XCTAssertTrue(result.stderr.contains("bad.keys:2") && result.stderr.contains("80 bytes"), result.stderr)
    }

    /// After a rollout an operator checks every replica runs the same configuration: the admin port's
    /// readiness answer carries a digest of the files and certificates, equal whatever the generation.
    func testReadinessTellsWhichConfigurationARuns() throws {
        func ready(_ port: Int) throws -> [String] {
            try Command.run("curl", ["-sS", "http://127.0.0.1:\(port)/healthz/ready"]).stdout.split(separator: "\n")
                .map(String.init)
        }
        var admins: [Int] = []
        for _ in 0..<2 {
            let harness = try GatewayHarness()
            replicas.append(harness)
            try harness.startUpstream()
            try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
            try harness.write("vs.yaml", Manifests.virtualService())
            let admin = try Network.freePort()
            try harness.startGateway(extraArguments: ["--admin", "127.0.0.1:\(admin)"])
            try Network.waitForListening(admin)
            admins.append(admin)
        }
        let first = try ready(admins[0])
        let second = try ready(admins[1])
        XCTAssertEqual(first.first, "ok")
        XCTAssertEqual(first.count, 3, first.joined(separator: "|"))
        XCTAssertTrue(first[2].hasPrefix("config sha256:") && first[2].count == "config sha256:".count + 64, first[2])
        XCTAssertEqual(first[2], second[2], "same files and certificates, same digest")
        let reloads = replicas[1].reloadCount
        try replicas[1].write("vs.yaml", Manifests.virtualService(hosts: [Manifests.host, "other.example.test"]))
        try replicas[1].waitForReload(after: reloads)
        let changed = try ready(admins[1])
        XCTAssertNotEqual(changed[2], first[2])
        XCTAssertEqual(changed[1], "generation 2")
        let metrics = try Command.run("curl", ["-sS", "http://127.0.0.1:\(admins[1])/stats/prometheus"]).stdout
        XCTAssertTrue(metrics.contains("tollgate_config_generation 2"), metrics)
    }
}
