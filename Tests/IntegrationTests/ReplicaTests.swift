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

    /// The whole of it at once, as users run it: three replicas sharing one ticket-key file behind a real
    /// HAProxy (TCP mode, `send-proxy-v2`, health checks on each replica's `/healthz/ready`). A session made
    /// on one replica resumes on another; then, under a bounded load of keep-alive and new-connection mTLS
    /// requests from 127.0.0.2, every replica is restarted in turn (SIGTERM, wait for exit, start, wait until
    /// HAProxy counts it UP) — `TOLLGATE_ROLLING_ROUNDS` times (default 2) — and not one request fails, every
    /// replica serves some, and the upstream always sees the client's own address. The session made before
    /// the restarts still resumes on the new processes, and after a key rotation on all three, until its key
    /// is dropped. The load client retries nothing but what HTTP clients retry (a request on a reused
    /// connection closed before any byte of its answer); what a drain cut would show as
    /// `connections.dropped` above 0, which fails the test.
    func testRollingRestartBehindHAProxyLosesNoRequest() throws {
        let work = try Paths.temporaryDirectory("tollgate-rolling")
        defer { try? FileManager.default.removeItem(at: work) }
        let keyFile = work.appendingPathComponent("ticket.keys").path
        XCTAssertEqual(try ticketKeys(["--out", keyFile]).exitCode, 0)
        let names = ["r1", "r2", "r3"]
        var ports: [Int] = []
        var admins: [Int] = []
        for name in names {
            let harness = try GatewayHarness()
            replicas.append(harness)
            try harness.startUpstream(answeringAs: name)
            try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
            try harness.write("vs.yaml", Manifests.virtualService())
            ports.append(try Network.freePort())
            admins.append(try Network.freePort())
        }
        func start(_ index: Int) throws {
            try replicas[index].startGateway(
                declaredPorts: [],
                extraArguments: [
                    "--port-map", "443=\(ports[index])", "--admin", "127.0.0.1:\(admins[index])", "--proxy-protocol",
                    "127.0.0.1", "--session-ticket-keys", keyFile, "--shutdown-delay", "2", "--drain-seconds", "10",
                    "--log-level", "info",
                ])
            try Network.waitForListening(ports[index], process: replicas[index].gateway)
        }
        for index in names.indices { try start(index) }
        let balancer = try HAProxy(
            servers: names.indices.map { HAProxy.Server(name: names[$0], port: ports[$0], adminPort: admins[$0]) },
            directory: work)
        defer { balancer.stop() }
        for name in names { try balancer.waitFor(name, "UP") }

        // Resumption through the balancer: round robin sends the next connections to the other replicas.
        func get(client: String? = nil, out: String? = nil, in sessionIn: String? = nil) throws -> (
            SessionClient.Connection, String?
        ) {
            let connection = try SessionClient.get(
                port: balancer.port, serverName: Manifests.host, client: client, pki: replicas[0].pki,
                resumption: .tls13Ticket, sessionOut: out, sessionIn: sessionIn, path: "/get")
            return (connection, names.first { connection.output.contains("\"\($0)\"") })
        }
        let session = work.appendingPathComponent("session.pem").path
        let (made, issuer) = try get(client: "jinsu-macbook-tls", out: session)
        XCTAssertEqual(made.status, 200, made.output)
        XCTAssertNotNil(issuer, made.output)
        var resumedOn: Set<String> = []
        for _ in 0..<4 where resumedOn.count < 2 {
            let (again, replica) = try get(in: session)
            XCTAssertTrue(again.reused, again.output)
            XCTAssertTrue(again.output.contains("URI=spiffe://jinsu-macbook"), "the identity resumes too")
            if let replica, replica != issuer { resumedOn.insert(replica) }
        }
        XCTAssertEqual(resumedOn.count, 2, "resumed on both replicas that did not issue the ticket")

        // Load: keep-alive clients (one with requests in flight for 200 ms) and new-connection clients.
        let stopFile = work.appendingPathComponent("stop").path
        let script = Paths.repository.appendingPathComponent("Tests/Fixtures/tls/load_client.py").path
        let pki = replicas[0].pki
        let loads = [
            ("keepalive", "/get"), ("keepalive", "/get"), ("keepalive", "/delay/0.2"), ("new", "/get"),
            ("new", "/get"),
        ]
        var clients: [ManagedProcess] = []
        defer { for client in clients { client.stop() } }
        for (index, (mode, path)) in loads.enumerated() {
            clients.append(
                try ManagedProcess(
                    name: "load-\(index)", executable: try Command.which("python3"),
                    arguments: [
                        script, String(balancer.port), Manifests.host, pki.caCertificate,
                        pki.path("jinsu-macbook-tls", "tls.crt"), pki.path("jinsu-macbook-tls", "tls.key"),
                        "127.0.0.2", mode, path, "20000", stopFile,
                    ], logDirectory: work))
        }
        for client in clients {
            try waitUntil(timeout: 20, "\(client.name) to get a response: \(client.log)") {
                client.log.contains("first response") || !client.process.isRunning
            }
        }
        let rounds = Int(ProcessInfo.processInfo.environment["TOLLGATE_ROLLING_ROUNDS"] ?? "") ?? 2
        var restartSeconds: [Double] = []
        for _ in 0..<rounds {
            for index in names.indices {
                let began = Date()
                let gateway = replicas[index].gateway!
                gateway.signal(SIGTERM)
                try balancer.waitFor(names[index], "DOWN", timeout: 10)
                XCTAssertTrue(
                    Network.isListening(ports[index]), "HAProxy took \(names[index]) out before it stopped listening")
                try waitUntil(timeout: 20, "\(names[index]) to exit") { !gateway.process.isRunning }
                XCTAssertEqual(gateway.process.terminationStatus, 0)
                XCTAssertTrue(gateway.log.contains("connections.dropped=0"), gateway.log)
                try start(index)
                try balancer.waitFor(names[index], "UP")
                restartSeconds.append(Date().timeIntervalSince(began))
            }
        }
        XCTAssertTrue(FileManager.default.createFile(atPath: stopFile, contents: nil))
        var served: [String: Int] = [:]
        var total = 0
        for client in clients {
            try waitUntil(timeout: 30, "\(client.name) to finish") { !client.process.isRunning }
            let line = client.log.split(separator: "\n").last { $0.hasPrefix("{") } ?? ""
            let summary = try XCTUnwrap(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], client.log)
            let ok = summary["ok"] as? Int ?? 0
            total += ok
            XCTAssertEqual(summary["failed"] as? Int, 0, "\(client.name): \(line)")
            XCTAssertGreaterThan(ok, 0, "\(client.name): \(line)")
            XCTAssertEqual(summary["wrongClientAddress"] as? Int, 0, "x-forwarded-for is the client: \(line)")
            for (name, count) in summary["upstreams"] as? [String: Int] ?? [:] { served[name, default: 0] += count }
            if client.process.arguments?.contains("new") == true {
                XCTAssertGreaterThan(summary["resumed"] as? Int ?? 0, 0, "new connections resume: \(line)")
            }
            print("\(client.name): \(line)")
        }
        print("rolling restart: \(total) requests answered, by replica \(served), restarts took \(restartSeconds)")
        for name in names { XCTAssertGreaterThan(served[name] ?? 0, 0, "\(name) served some: \(served)") }

        let (afterwards, _) = try get(in: session)
        XCTAssertTrue(afterwards.reused, "a ticket from before the restarts opens on the new processes")
        XCTAssertEqual(afterwards.status, 200, afterwards.output)

        // Rotation reaches every replica: the old key still opens after a new one is put first, and no
        // longer once it is dropped. Round robin takes three connections in a row to the three replicas.
        func keyReloads() -> [Int] {
            replicas.map { $0.gateway!.log.components(separatedBy: "session ticket keys reloaded").count }
        }
        func resumeOnEach() throws -> (reused: Int, replicas: Set<String>) {
            var reused = 0
            var seen: Set<String> = []
            for _ in names {
                let (connection, replica) = try get(in: session)
                reused += connection.reused ? 1 : 0
                if let replica { seen.insert(replica) }
            }
            return (reused, seen)
        }
        var loaded = keyReloads()
        XCTAssertEqual(try ticketKeys(["--out", keyFile, "--rotate"]).exitCode, 0)
        try waitUntil(timeout: 15, "every replica to load the rotated file") {
            zip(keyReloads(), loaded).allSatisfy { $0 > $1 }
        }
        let rotated = try resumeOnEach()
        XCTAssertEqual(rotated.reused, 3, "the old key still opens on every replica")
        XCTAssertEqual(rotated.replicas, Set(names))
        loaded = keyReloads()
        try FileManager.default.removeItem(atPath: keyFile)
        XCTAssertEqual(try ticketKeys(["--out", keyFile]).exitCode, 0)
        try waitUntil(timeout: 15, "every replica to load the new file") {
            zip(keyReloads(), loaded).allSatisfy { $0 > $1 }
        }
        XCTAssertEqual(try resumeOnEach().reused, 0, "a dropped key opens nothing, on any replica")
    }
}
