import Foundation
import TestSupport
import XCTest

/// Several TLS server blocks on one port never share trust: a session, a ticket, a pin or a Host header
/// from one block never admits a client to another block it did not verify with.
final class ServerBlockIsolationTests: XCTestCase {
    var harness: GatewayHarness!

    override func tearDown() { harness?.stop() }

    /// One block of the matrix: its host, its Gateway `tls` settings, and a client certificate it admits.
    struct Block {
        var host: String
        var tls: String
        /// The credential folder of a client this block admits in a full handshake (nil: none needed).
        var admittedClient: String?
        /// Whether a client without a certificate is served (SIMPLE, OPTIONAL_MUTUAL).
        var servesAnonymous: Bool
    }

    static let blocks = [
        Block(
            host: "simple.iso.test", tls: "{mode: SIMPLE, credentialName: server-tls}", admittedClient: nil,
            servesAnonymous: true),
        Block(
            host: "mutual.iso.test", tls: "{mode: MUTUAL, credentialName: server-tls}",
            admittedClient: "jinsu-macbook-tls",
            servesAnonymous: false),
        Block(
            host: "pinned.iso.test",
            tls: "{mode: MUTUAL, credentialName: server-tls, subjectAltNames: ['spiffe://jinsu-iphone']}",
            admittedClient: "jinsu-iphone-tls", servesAnonymous: false),
        Block(
            host: "otherca.iso.test", tls: "{mode: MUTUAL, credentialName: rogue-trust-tls}",
            admittedClient: "rogue-client-tls",
            servesAnonymous: false),
        Block(
            host: "crl.iso.test", tls: "{mode: MUTUAL, credentialName: crl-trust-tls}",
            admittedClient: "jinsu-iphone-tls",
            servesAnonymous: false),
        Block(
            host: "optional.iso.test", tls: "{mode: OPTIONAL_MUTUAL, credentialName: server-tls}",
            admittedClient: "jinsu-macbook-tls",
            servesAnonymous: true),
    ]

    private func startGateway(_ blocks: [Block], annotations: String = "", extraArguments: [String] = []) throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        let servers = blocks.enumerated().map { index, block in
            """
              - hosts: ['\(block.host)']
                port: {number: 443, name: https-\(index), protocol: HTTPS}
                tls: \(block.tls)
            """
        }.joined(separator: "\n")
        try harness.write(
            "gw.yaml",
            """
            apiVersion: networking.istio.io/v1beta1
            kind: Gateway
            metadata: {name: mtls-gateway, namespace: istio-system\(annotations)}
            spec:
              servers:
            \(servers)
            """)
        try harness.write("vs.yaml", Manifests.virtualService(hosts: blocks.map(\.host)))
        try harness.startGateway(extraArguments: extraArguments)
    }

    typealias Resumption = SessionClient.Resumption

    private func connect(
        serverName: String, host: String? = nil, client: String?, resumption: Resumption,
        sessionOut: String? = nil, sessionIn: String? = nil
    ) throws -> SessionClient.Connection {
        try SessionClient.get(
            port: harness.port(), serverName: serverName, host: host, client: client, pki: harness.pki,
            resumption: resumption, sessionOut: sessionOut, sessionIn: sessionIn)
    }

    /// Takes a session from every block (with a client it admits) and offers it to every block.
    /// Within a block it must resume; across blocks it never may, and a block that verifies clients
    /// must never answer a client that did not pass its verification.
    private func assertResumptionIsolated(_ blocks: [Block]) throws {
        for resumption in Resumption.allCases {
            for source in blocks {
                let session = harness.workDirectory.appendingPathComponent("\(source.host)-\(resumption).pem").path
                let first = try connect(
                    serverName: source.host, client: source.admittedClient, resumption: resumption, sessionOut: session)
                XCTAssertEqual(first.status, 200, "\(resumption) full handshake to \(source.host): \(first.output)")
                for target in blocks {
                    let second = try connect(
                        serverName: target.host, client: nil, resumption: resumption, sessionIn: session)
                    let what = "\(resumption): session of \(source.host) offered to \(target.host)"
                    if target.host == source.host {
                        XCTAssertTrue(second.reused, "\(what) must resume: \(second.output)")
                        XCTAssertEqual(second.status, 200, "\(what): \(second.output)")
                        continue
                    }
                    XCTAssertFalse(second.reused, "\(what) was resumed: \(second.output)")
                    if target.servesAnonymous {
                        XCTAssertEqual(second.status, 200, "\(what): \(second.output)")
                        XCTAssertFalse(
                            second.forwardedClientCert, "\(what) carried another block's identity: \(second.output)")
                    } else {
                        XCTAssertFalse(second.reachedUpstream, "\(what) reached the upstream: \(second.output)")
                    }
                }
            }
        }
    }

    func testResumptionNeverCrossesBlocks() throws {
        try startGateway(Self.blocks)
        try assertResumptionIsolated(Self.blocks)
    }

    /// Replicas share one key file, so every block's ticket keys come from the same file keys: isolation must
    /// hold with it too (each block's derived keys, unit-tested in ResumptionDomainTests, and its session
    /// context keep blocks apart; replicas derive equal keys, so this holds across them as well).
    func testResumptionNeverCrossesBlocksWithASharedKeyFile() throws {
        let keys = try Paths.temporaryDirectory("tollgate-keys")
        defer { try? FileManager.default.removeItem(at: keys) }
        let keyFile = keys.appendingPathComponent("ticket.keys").path
        XCTAssertEqual(try Command.run(Paths.tollgate, ["certs", "ticket-keys", "--out", keyFile]).exitCode, 0)
        try startGateway(Self.blocks, extraArguments: ["--session-ticket-keys", keyFile])
        try assertResumptionIsolated(Self.blocks)
    }

    func testResumptionNeverCrossesBlocksInReverseOrder() throws {
        try startGateway(Self.blocks.reversed())
        try assertResumptionIsolated(Self.blocks.reversed())
    }

    /// TLS 1.3 clients use a ticket once: a resumed connection must hand out a successor, or every other
    /// reconnect is a full handshake. The successor keeps the identity and stays in its block.
    func testResumedConnectionsIssueASuccessorTicket() throws {
        try startGateway([Self.blocks[1], Self.blocks[2]])
        let directory = harness.workDirectory
        XCTAssertEqual(
            try connect(
                serverName: "mutual.iso.test", client: "jinsu-macbook-tls", resumption: .tls13Ticket,
                sessionOut: directory.appendingPathComponent("s0.pem").path
            ).status, 200)
        for step in 1...3 {
            let resumed = try connect(
                serverName: "mutual.iso.test", client: nil, resumption: .tls13Ticket,
                sessionOut: directory.appendingPathComponent("s\(step).pem").path,
                sessionIn: directory.appendingPathComponent("s\(step - 1).pem").path)
            XCTAssertTrue(resumed.reused, "step \(step): \(resumed.output)")
            XCTAssertTrue(resumed.output.contains("URI=spiffe://jinsu-macbook"), "step \(step)")
        }
        let elsewhere = try connect(
            serverName: "pinned.iso.test", client: nil, resumption: .tls13Ticket,
            sessionIn: directory.appendingPathComponent("s3.pem").path)
        XCTAssertFalse(elsewhere.reused)
        XCTAssertFalse(elsewhere.reachedUpstream)
    }

    /// The report's first case, verbatim: two MUTUAL blocks, the second pinned to another device.
    func testTicketFromOneMutualBlockDoesNotOpenAPinnedOne() throws {
        let a = Block(
            host: "a.iso.test", tls: "{mode: MUTUAL, credentialName: server-tls}", admittedClient: "jinsu-macbook-tls",
            servesAnonymous: false)
        let b = Block(
            host: "b.iso.test",
            tls: "{mode: MUTUAL, credentialName: server-tls, subjectAltNames: ['spiffe://jinsu-iphone']}",
            admittedClient: "jinsu-iphone-tls", servesAnonymous: false)
        try startGateway([a, b])
        let session = harness.workDirectory.appendingPathComponent("a.pem").path
        let first = try connect(
            serverName: "a.iso.test", client: "jinsu-macbook-tls", resumption: .tls13Ticket, sessionOut: session)
        XCTAssertEqual(first.status, 200, first.output)
        let second = try connect(serverName: "b.iso.test", client: nil, resumption: .tls13Ticket, sessionIn: session)
        XCTAssertFalse(second.reused, second.output)
        XCTAssertFalse(second.reachedUpstream, second.output)
        XCTAssertNil(second.status, second.output)
    }

    /// Pins (and every other setting of a block) apply whichever block comes first on the port.
    func testPinsHoldOnABlockThatFollowsASimpleOne() throws {
        try startGateway([Self.blocks[0], Self.blocks[2]])
        let macbook = try harness.curl("/headers", host: "pinned.iso.test", client: "jinsu-macbook-tls")
        XCTAssertNotEqual(macbook.status, 200, macbook.body)
        XCTAssertFalse(macbook.body.contains("jinsu-macbook"), macbook.body)
        let iphone = try harness.curl("/headers", host: "pinned.iso.test", client: "jinsu-iphone-tls")
        XCTAssertEqual(iphone.status, 200, iphone.stderr)
        XCTAssertTrue(iphone.body.contains("URI=spiffe://jinsu-iphone"), iphone.body)
        let simple = try harness.curl("/headers", host: "simple.iso.test", client: nil)
        XCTAssertEqual(simple.status, 200, simple.stderr)
    }

    /// A wildcard SIMPLE block must not carry requests for a MUTUAL block's host: 421.
    func testWildcardSimpleBlockCannotReachAMutualHost() throws {
        let secure = Block(
            host: "secure.iso.test", tls: "{mode: MUTUAL, credentialName: server-tls}",
            admittedClient: "jinsu-macbook-tls",
            servesAnonymous: false)
        let wildcard = Block(
            host: "*.iso.test", tls: "{mode: SIMPLE, credentialName: server-tls}", admittedClient: nil,
            servesAnonymous: true)
        try startGateway([secure, wildcard])
        let smuggled = try harness.curl(
            "/headers", host: "x.iso.test", client: nil, arguments: ["-H", "Host: secure.iso.test"])
        XCTAssertEqual(smuggled.status, 421, smuggled.body)
        XCTAssertFalse(smuggled.body.contains("\"headers\""), smuggled.body)
        // Absolute-form carries the authority too.
        let absolute = try harness.curl(
            "/headers", host: "x.iso.test", client: nil,
            arguments: ["--request-target", "https://secure.iso.test/headers"])
        XCTAssertEqual(absolute.status, 421, absolute.body)
        // The wildcard block still serves its own hosts, and the MUTUAL host its verified clients.
        XCTAssertEqual(try harness.curl("/headers", host: "x.iso.test", client: nil).status, 200)
        XCTAssertEqual(try harness.curl("/headers", host: "secure.iso.test", client: "jinsu-macbook-tls").status, 200)
        // The reverse: a verified connection to secure.iso.test asking for the wildcard block's host.
        let reverse = try harness.curl(
            "/headers", host: "secure.iso.test", client: "jinsu-macbook-tls", arguments: ["-H", "Host: x.iso.test"])
        XCTAssertEqual(reverse.status, 421, reverse.body)
    }

    /// A reload that revokes a client (a CRL appears) invalidates its sessions: no resumption past it.
    func testReloadThatRevokesAClientEndsItsResumption() throws {
        let block = Block(
            host: "crl.iso.test", tls: "{mode: MUTUAL, credentialName: server-tls}",
            admittedClient: "jinsu-macbook-tls",
            servesAnonymous: false)
        try startGateway([block])
        let session = harness.workDirectory.appendingPathComponent("before.pem").path
        let first = try connect(
            serverName: "crl.iso.test", client: "jinsu-macbook-tls", resumption: .tls13Ticket, sessionOut: session)
        XCTAssertEqual(first.status, 200, first.output)
        let again = try connect(serverName: "crl.iso.test", client: nil, resumption: .tls13Ticket, sessionIn: session)
        XCTAssertTrue(again.reused, again.output)
        // A reload that leaves the block's trust alone keeps its sessions: clients keep cheap reconnects.
        var reloads = harness.reloadCount
        try harness.write("vs.yaml", Manifests.virtualService(hosts: ["crl.iso.test", "unrelated.iso.test"]))
        try harness.waitForReload(after: reloads)
        let afterUnrelatedReload = try connect(
            serverName: "crl.iso.test", client: nil, resumption: .tls13Ticket, sessionIn: session)
        XCTAssertTrue(afterUnrelatedReload.reused, afterUnrelatedReload.output)
        XCTAssertEqual(afterUnrelatedReload.status, 200, afterUnrelatedReload.output)
        reloads = harness.reloadCount
        try harness.write(
            "gw.yaml",
            """
            apiVersion: networking.istio.io/v1beta1
            kind: Gateway
            metadata: {name: mtls-gateway, namespace: istio-system}
            spec:
              servers:
              - hosts: ['crl.iso.test']
                port: {number: 443, name: https-0, protocol: HTTPS}
                tls: {mode: MUTUAL, credentialName: crl-trust-tls}
            """)
        try harness.waitForReload(after: reloads)
        let revoked = try connect(serverName: "crl.iso.test", client: nil, resumption: .tls13Ticket, sessionIn: session)
        XCTAssertFalse(revoked.reused, revoked.output)
        XCTAssertFalse(revoked.reachedUpstream, revoked.output)
        let full = try harness.curl("/headers", host: "crl.iso.test", client: "jinsu-macbook-tls")
        XCTAssertTrue(full.stderr.contains("revoked"), full.stderr)
    }

    /// Two blocks with the same trust may resume each other's sessions (a full handshake would admit the
    /// client on either), but what the request is judged by is the SNI that chose this connection's block,
    /// never the name a resumed TLS 1.2 session was made with: `connection.sni` cannot be borrowed.
    func testPoliciesSeeTheSNIThatChoseTheBlock() throws {
        let a = Block(
            host: "a.iso.test", tls: "{mode: MUTUAL, credentialName: server-tls}", admittedClient: "jinsu-macbook-tls",
            servesAnonymous: false)
        let b = Block(
            host: "b.iso.test", tls: "{mode: MUTUAL, credentialName: server-tls}", admittedClient: "jinsu-iphone-tls",
            servesAnonymous: false)
        try startGateway([a, b])
        try harness.write(
            "policy.yaml",
            """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: macbook-only-on-a, namespace: istio-system}
            spec:
              action: ALLOW
              rules:
              - from: [{source: {principals: [jinsu-iphone]}}]
              - from: [{source: {principals: [jinsu-macbook]}}]
                when: [{key: connection.sni, values: [a.iso.test]}]
            """)
        try harness.waitForReload(after: 0)
        for resumption in [Resumption.tls12Ticket, .tls12SessionID] {
            let session = harness.workDirectory.appendingPathComponent("sni-\(resumption).pem").path
            let onA = try connect(
                serverName: "a.iso.test", client: "jinsu-macbook-tls", resumption: resumption, sessionOut: session)
            XCTAssertEqual(onA.status, 200, onA.output)
            let onB = try connect(serverName: "b.iso.test", client: nil, resumption: resumption, sessionIn: session)
            XCTAssertEqual(onB.status, 403, "\(resumption): judged as SNI b.iso.test: \(onB.output)")
            XCTAssertFalse(onB.reachedUpstream, onB.output)
        }
        try waitUntil(timeout: 10, "the access log") { harness.gateway!.log.contains("\" 403 ") }
        XCTAssertTrue(
            harness.gateway!.log.split(separator: "\n").contains {
                $0.contains("\" 403 ") && $0.contains(" b.iso.test principal=jinsu-macbook")
            },
            "the access log names the SNI that chose the block")
    }

    /// After a HelloRetryRequest the second ClientHello must name the same server (RFC 8446 §4.1.2):
    /// otherwise it could claim any name, unchecked, for the block the first one chose.
    func testSecondClientHelloMustNameTheSameServer() throws {
        try startGateway([Self.blocks[0], Self.blocks[1]])
        let script = Paths.repository.appendingPathComponent("Tests/Fixtures/tls/hello_retry_sni.py").path
        func answer(_ first: String, _ second: String) throws -> String {
            try Command.run("python3", [script, String(harness.port()), first, second], timeout: 20).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        XCTAssertEqual(try answer("simple.iso.test", "simple.iso.test"), "server-hello")
        XCTAssertEqual(
            try answer("simple.iso.test", "SIMPLE.iso.test"), "server-hello", "the same name in another case")
        XCTAssertEqual(try answer("simple.iso.test", "mutual.iso.test"), "alert 47", "illegal_parameter")
        XCTAssertEqual(try answer("mutual.iso.test", "-"), "alert 47")
        XCTAssertEqual(try answer("-", "simple.iso.test"), "alert 47")
        XCTAssertEqual(
            try answer("simple.iso.test", "evil\nline"), "alert 50", "a name with bytes no host name has: decode_error")
        XCTAssertTrue(
            harness.gateway!.log.contains("the second ClientHello names another server than the first"),
            "the log says why")
    }

    /// Revoking a device cuts it off at once: its open keep-alive connection is closed as soon as the
    /// gateway loads the CRL, without waiting for its next request; other devices' connections stay.
    func testRevocationClosesOpenConnectionsAtOnce() throws {
        let block = Block(
            host: "crl.iso.test", tls: "{mode: MUTUAL, credentialName: server-tls}",
            admittedClient: "jinsu-macbook-tls",
            servesAnonymous: false)
        try startGateway([block])
        let pki = harness.pki
        func open(_ client: String) throws -> InteractiveTLSClient {
            let connection = try InteractiveTLSClient(
                port: harness.port(), serverName: "crl.iso.test", caFile: pki.caCertificate,
                client: (pki.path(client, "tls.crt"), pki.path(client, "tls.key")),
                directory: harness.workDirectory)
            connection.send("GET /uuid HTTP/1.1\r\nHost: crl.iso.test\r\n\r\n")
            try connection.waitFor("\"uuid\"")
            return connection
        }
        let macbook = try open("jinsu-macbook-tls")
        let iphone = try open("jinsu-iphone-tls")
        let reloads = harness.reloadCount
        // crl-trust-tls: the same CA with a CRL that revokes jinsu-macbook.
        try harness.write(
            "gw.yaml",
            (try String(contentsOf: harness.configDirectory.appendingPathComponent("gw.yaml"), encoding: .utf8))
                .replacingOccurrences(of: "credentialName: server-tls", with: "credentialName: crl-trust-tls"))
        try harness.waitForReload(after: reloads)
        try waitUntil(timeout: 10, "the revoked device's connection to close") { !macbook.isRunning }
        XCTAssertTrue(harness.gateway!.log.contains("closing a connection verified under a previous TLS configuration"))
        // Only the CRL changed: the iPhone's certificate passes it, so its connection stays and serves.
        XCTAssertTrue(iphone.isRunning)
        iphone.send("GET /uuid HTTP/1.1\r\nHost: crl.iso.test\r\n\r\n")
        try iphone.waitFor("\"uuid\"", count: 2)
        XCTAssertTrue(
            try harness.curl("/uuid", host: "crl.iso.test", client: "jinsu-macbook-tls").stderr.contains("revoked"))
    }

    /// After the handshake the gateway frees the certificates a client sent that its verification did not use
    /// (idle memory), but keeps the intermediates: a reload that changes only a CRL re-verifies open
    /// connections with them, and a device whose certificate hangs off an intermediate keeps its connection.
    func testAReloadThatOnlyChangesACRLKeepsAChainedClientsConnection() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        let credentials = harness.workDirectory.appendingPathComponent("credentials")
        try FileManager.default.createDirectory(at: credentials, withIntermediateDirectories: true)
        let folder = credentials.appendingPathComponent("chain-ok-tls")
        try FileManager.default.copyItem(at: harness.pki.directory.appendingPathComponent("chain-ok-tls"), to: folder)
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL", credential: "chain-ok-tls"))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway(credentials: credentials.path)
        let device = try InteractiveTLSClient(
            port: harness.port(), serverName: Manifests.host, caFile: harness.pki.caCertificate,
            client: (harness.pki.path("chain-client-tls", "tls.crt"), harness.pki.path("chain-client-tls", "tls.key")),
            sendsChain: true, directory: harness.workDirectory)
        device.send("GET /uuid HTTP/1.1\r\nHost: \(Manifests.host)\r\n\r\n")
        try device.waitFor("\"uuid\"")
        // The same two CRLs in the other order: a new revocation list that revokes nothing more.
        let crlFile = folder.appendingPathComponent("ca.crl")
        let crls = try String(contentsOf: crlFile, encoding: .utf8)
        let end = "-----END X509 CRL-----\n"
        let parts = crls.components(separatedBy: end).filter { !$0.isEmpty }.map { $0 + end }
        XCTAssertEqual(parts.count, 2, crls)
        let reloads = harness.reloadCount
        try parts.reversed().joined().write(to: crlFile, atomically: true, encoding: .utf8)
        try harness.waitForReload(after: reloads)
        device.send("GET /uuid HTTP/1.1\r\nHost: \(Manifests.host)\r\n\r\n")
        try device.waitFor("\"uuid\"", count: 2)
        XCTAssertFalse(
            harness.gateway!.log.contains("closing a connection verified under a previous TLS configuration"),
            harness.gateway!.log)
    }

    /// With CRLs for every CA of the chain, a revoked intermediate fails (Envoy checks the whole chain).
    func testRevokedIntermediateIsRefused() throws {
        try startGateway([
            Block(
                host: "ok.iso.test", tls: "{mode: MUTUAL, credentialName: chain-ok-tls}", admittedClient: nil,
                servesAnonymous: false),
            Block(
                host: "revoked.iso.test", tls: "{mode: MUTUAL, credentialName: chain-revoked-int-tls}",
                admittedClient: nil,
                servesAnonymous: false),
        ])
        let ok = try harness.curl("/headers", host: "ok.iso.test", client: "chain-client-tls")
        XCTAssertEqual(ok.status, 200, ok.stderr)
        XCTAssertTrue(ok.body.contains("URI=spiffe://chain-client"), ok.body)
        let revoked = try harness.curl("/headers", host: "revoked.iso.test", client: "chain-client-tls")
        XCTAssertNotEqual(revoked.status, 200, revoked.body)
        XCTAssertTrue(revoked.stderr.contains("revoked"), revoked.stderr)
    }

    /// In explain mode a client whose certificate failed completes the handshake; its session must not
    /// be resumable (no ticket, no cache entry), so nothing about it outlives the connection.
    func testFailedVerificationLeavesNoResumableSession() throws {
        try startGateway([Self.blocks[2]], annotations: ", annotations: {tollgate.io/explain: 'true'}")
        for resumption in Resumption.allCases {
            let session = harness.workDirectory.appendingPathComponent("failed-\(resumption).pem").path
            let first = try connect(
                serverName: "pinned.iso.test", client: "jinsu-macbook-tls", resumption: resumption, sessionOut: session)
            XCTAssertEqual(first.status, 403, first.output)
            guard FileManager.default.fileExists(atPath: session) else { continue }
            let second = try connect(
                serverName: "pinned.iso.test", client: nil, resumption: resumption, sessionIn: session)
            XCTAssertFalse(second.reused, "\(resumption): \(second.output)")
            XCTAssertFalse(second.reachedUpstream, "\(resumption): \(second.output)")
        }
    }
}
