import HTTP1
import TollgateConfig
import TollgateCore
import TollgatePlanner
import TollgatePolicy
import TollgateRouting
import XCTest

/// Every branch of the request decision, as a table: what `beginRequest` used to decide inline.
final class RequestPlannerTests: XCTestCase {
    static let yaml = """
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: app, namespace: istio-system}
        spec:
          servers:
          - hosts: [app.test]
            port: {number: 443, name: https-app, protocol: HTTPS}
            tls: {mode: MUTUAL, credentialName: app-tls}
        ---
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: pages
          namespace: istio-system
          annotations: {tollgate.io/explain: "true", tollgate.io/whoami-path: /.tollgate/whoami}
        spec:
          servers:
          - hosts: [pages.test]
            port: {number: 443, name: https-pages, protocol: HTTPS}
            tls: {mode: MUTUAL, credentialName: pages-tls}
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: routes, namespace: istio-system}
        spec:
          hosts: [app.test, pages.test]
          gateways: [istio-system/app, istio-system/pages]
          http:
          - match: [{uri: {prefix: /old}}]
            redirect: {uri: /new, redirectCode: 308}
          - match: [{uri: {exact: /teapot}}]
            directResponse: {status: 418, body: {string: short and stout}}
          - match: [{uri: {prefix: /api}}]
            corsPolicy:
              allowOrigins: [{exact: "https://ui.test"}]
              allowMethods: [GET, POST]
            route: [{destination: {host: api}}]
          - match: [{uri: {prefix: /}}]
            route: [{destination: {host: server}}]
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: deny-admin, namespace: istio-system}
        spec:
          action: DENY
          rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: audit-all, namespace: istio-system}
        spec:
          action: AUDIT
          rules: [{to: [{operation: {paths: ["/audited"]}}]}]
        """

    struct Fixture {
        var listeners: [ListenerContext]
    }

    static func fixture() throws -> Fixture {
        let model = try ConfigLoader.load([("config.yaml", yaml)])
        let plan = try ListenerPlan.plan(model)[0]
        let selector = ServerNameSelector(blocks: plan.servers.map(\.server.hosts))
        let engine = AuthorizationEngine(policies: model.authorizationPolicies)
        return Fixture(
            listeners: plan.servers.indices.map { block in
                ListenerContext(
                    routeTable: RouteTable(servers: [plan.servers[block]], portBlocks: (selector, block), model: model),
                    server: plan.servers[block], declaredPort: 443, authorization: engine)
            })
    }

    private let device = PeerIdentity(
        verified: true, subjectAltNames: [.uniformResourceIdentifier("spiffe://jinsu-macbook")],
        subject: "CN=jinsu-macbook", leafSHA256: "00", leafPEM: "")

    private func plan(
        _ target: String, host: String? = "app.test", method: String = "GET", version: HTTPVersion = .http11,
        headers: [(String, String)] = [],
        block: Int = 0, certificateProblem: Bool = false, listener: Bool = true
    ) throws -> RequestPlan {
        var fields = headers
        if let host { fields.insert(("host", host), at: 0) }
        let fixture = try Self.fixture()
        return RequestPlanner.plan(
            RequestHead(method: method, target: target, version: version, headers: HTTPHeaders(fields)),
            connection: ConnectionContext(
                identity: certificateProblem ? .anonymous : device, hasCertificateProblem: certificateProblem,
                serverName: host, peerAddress: IPAddress("198.51.100.7"), localAddress: IPAddress("192.0.2.1"),
                scheme: "https"),
            listener: listener ? fixture.listeners[block] : nil)
    }

    func testEveryBranch() throws {
        let cases: [(String, RequestPlan, String)] = [
            ("route", try plan("/x"), "forward"),
            ("route with query", try plan("/x?a=1"), "forward"),
            ("redirect", try plan("/old/page"), "redirect 308"),
            ("direct response", try plan("/teapot"), "direct 418"),
            ("denied", try plan("/admin/users"), "deny"),
            ("denied after normalization", try plan("/a/../admin"), "deny"),
            ("denied, explained", try plan("/admin", host: "pages.test", block: 1), "deny explained"),
            ("misdirected: another block's host", try plan("/x", host: "pages.test", block: 0), "misdirected"),
            ("misdirected: no block's host", try plan("/x", host: "elsewhere.test"), "misdirected"),
            ("misdirected by absolute form", try plan("https://pages.test/x"), "misdirected"),
            ("whoami", try plan("/.tollgate/whoami", host: "pages.test", block: 1), "whoami"),
            ("whoami only where opted in", try plan("/.tollgate/whoami"), "forward"),
            (
                "certificate problem explained, never routed",
                try plan("/x", host: "pages.test", block: 1, certificateProblem: true),
                "explain certificate"
            ),
            (
                "whoami still answers with a certificate problem",
                try plan(
                    "/.tollgate/whoami", host: "pages.test", block: 1,
                    certificateProblem: true), "whoami"
            ),
            (
                "CORS preflight",
                try plan(
                    "/api/v1", method: "OPTIONS",
                    headers: [
                        ("origin", "https://ui.test"),
                        ("access-control-request-method", "POST"),
                    ]), "cors preflight"
            ),
            ("CORS actual", try plan("/api/v1", headers: [("origin", "https://ui.test")]), "forward"),
            ("malformed path", try plan("/a%00b"), "reject 400"),
            ("port left the configuration", try plan("/x", listener: false), "port closed"),
        ]
        for (what, plan, expected) in cases {
            XCTAssertEqual(plan.action.kind, expected, what)
        }
    }

    func testWhatThePlanCarries() throws {
        let absolute = try plan("https://app.test/x?q=1", host: "ignored.test")
        XCTAssertEqual(absolute.head.target, "/x?q=1")
        XCTAssertEqual(absolute.head.authority, "app.test")
        XCTAssertEqual(absolute.routeName, "istio-system/routes.3")
        guard case .forward(let forward, _) = absolute.action else { return XCTFail("\(absolute.action.kind)") }
        XCTAssertEqual(forward.destinations.first?.destination.host, "server")
        XCTAssertEqual(forward.target, "/x?q=1")

        // Underscore spellings of protected fields never reach routing, policy or the upstream (#17).
        let lookalikes = try plan(
            "/x",
            headers: [("Transfer_Encoding", "chunked"), ("x_forwarded_client_cert", "By=evil"), ("X_Team", "blue")])
        XCTAssertEqual(lookalikes.droppedHeaders, ["Transfer_Encoding", "x_forwarded_client_cert"])
        XCTAssertEqual(lookalikes.head.headers, HTTPHeaders([("host", "app.test"), ("X_Team", "blue")]))

        let cors = try plan("/api", headers: [("origin", "https://ui.test")])
        guard case .forward(_, let operations) = cors.action else { return XCTFail() }
        XCTAssertTrue(
            operations.response.set.contains { $0.0 == "access-control-allow-origin" && $0.1 == "https://ui.test" })

        let denied = try plan("/admin")
        XCTAssertEqual(denied.authorization?.allowed, false)
        XCTAssertEqual(denied.authorization?.matchedPolicy, "ns[istio-system]-policy[deny-admin]-rule[0]")

        let audited = try plan("/audited")
        XCTAssertEqual(audited.authorization?.audited.isEmpty, false)
        XCTAssertEqual(audited.action.kind, "forward")

        guard case .whoami(let decision, _) = try plan("/.tollgate/whoami", host: "pages.test", block: 1).action else {
            return XCTFail()
        }
        XCTAssertTrue(decision.allowed, "whoami shows the decision for GET /")
        guard case .misdirected(let host) = try plan("/", host: "PAGES.test:443").action else { return XCTFail() }
        XCTAssertEqual(host, "pages.test")
    }

    private static let websocket = [
        ("connection", "Upgrade"), ("upgrade", "websocket"), ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ]

    /// A WebSocket upgrade is decided like any GET (block check, route, policy) and marked for a tunnel; other
    /// upgrades are refused as Envoy refuses protocols missing from `upgrade_configs`, except `h2c`, which Envoy
    /// strips, and a malformed opening handshake is a 400 before anything else.
    func testUpgrades() throws {
        let tunnelled = try plan("/ws/echo", headers: Self.websocket)
        XCTAssertEqual(tunnelled.action.kind, "forward")
        XCTAssertEqual(tunnelled.upgrade, .websocket)
        XCTAssertEqual(try plan("/x").upgrade, .none)

        let denied = try plan("/admin/socket", headers: Self.websocket)
        XCTAssertEqual(denied.action.kind, "deny", "policy applies to the upgrade request")
        XCTAssertEqual(try plan("/x", host: "pages.test", headers: Self.websocket).action.kind, "misdirected")
        XCTAssertEqual(try plan("/teapot", headers: Self.websocket).action.kind, "direct 418")

        let other = try plan("/x", headers: [("connection", "upgrade"), ("upgrade", "TLS/1.2")])
        XCTAssertEqual(other.action.kind, "upgrade refused")
        XCTAssertEqual(
            try plan("/admin", headers: [("connection", "upgrade"), ("upgrade", "foo")]).action.kind, "deny")
        let h2c = try plan("/x", headers: [("connection", "upgrade, HTTP2-Settings"), ("upgrade", "h2c")])
        XCTAssertEqual(h2c.action.kind, "forward", "h2c is ignored, its fields dropped as hop-by-hop")
        XCTAssertEqual(h2c.upgrade, .none)

        var badKey = Self.websocket
        badKey[2] = ("sec-websocket-key", "short")
        XCTAssertEqual(try plan("/ws/echo", headers: badKey).action.kind, "reject 400")
        XCTAssertEqual(
            try plan("/admin", headers: badKey).action.kind, "reject 400", "malformed before policy: it closes")
        XCTAssertEqual(
            try plan("/ws/echo", method: "POST", headers: Self.websocket + [("content-length", "5")]).action.kind,
            "reject 400")
        XCTAssertEqual(try plan("/ws/echo", version: .http10, headers: Self.websocket).action.kind, "reject 400")
    }

    /// RFC 8441 over HTTP/2: the head of an extended CONNECT (HTTP2RequestHead makes it a GET with the upgrade
    /// fields, no key) is planned like the HTTP/1.1 upgrade; what the gateway would answer itself with 2xx is
    /// refused, since over HTTP/2 a 2xx says the tunnel is open; `h2c` is refused rather than dropped.
    func testExtendedConnectOverHTTP2() throws {
        let fields = [("connection", "upgrade"), ("upgrade", "websocket"), ("sec-websocket-version", "13")]
        let tunnelled = try plan("/ws/echo", version: .http2, headers: fields)
        XCTAssertEqual(tunnelled.action.kind, "forward")
        XCTAssertEqual(tunnelled.upgrade, .websocket)
        XCTAssertEqual(try plan("/admin/socket", version: .http2, headers: fields).action.kind, "deny")
        XCTAssertEqual(try plan("/x", host: "pages.test", version: .http2, headers: fields).action.kind, "misdirected")
        XCTAssertEqual(
            try plan("/.tollgate/whoami", host: "pages.test", version: .http2, headers: fields, block: 1).action.kind,
            "upgrade refused")
        XCTAssertEqual(try plan("/teapot", version: .http2, headers: fields).action.kind, "direct 418")
        XCTAssertEqual(
            try plan("/ws/echo", version: .http2, headers: Array(fields.prefix(2))).action.kind, "reject 426")
        let h2c = try plan("/x", version: .http2, headers: [("connection", "upgrade"), ("upgrade", "h2c")])
        XCTAssertEqual(h2c.action.kind, "upgrade refused")
    }

    func testRemoteAddressBehindTrustedProxies() {
        let peer = IPAddress("10.0.0.9")
        let xff = HTTPHeaders([("x-forwarded-for", "203.0.113.1, 198.51.100.2")])
        XCTAssertEqual(
            RequestPlanner.remoteAddress(xff, peer: peer, trustedProxies: 0), peer, "no trusted proxy: the peer")
        XCTAssertEqual(RequestPlanner.remoteAddress(xff, peer: peer, trustedProxies: 1)?.description, "198.51.100.2")
        XCTAssertEqual(RequestPlanner.remoteAddress(xff, peer: peer, trustedProxies: 2)?.description, "203.0.113.1")
        XCTAssertEqual(
            RequestPlanner.remoteAddress(xff, peer: peer, trustedProxies: 3), peer, "fewer hops than trusted")
        XCTAssertEqual(
            RequestPlanner.remoteAddress(HTTPHeaders([("x-forwarded-for", "junk")]), peer: peer, trustedProxies: 1),
            peer)
    }

    func testDestinationIPIsTheGatewaysAddress() throws {
        let model = try ConfigLoader.load([
            (
                "config.yaml",
                Self.yaml + """

                    ---
                    apiVersion: security.istio.io/v1
                    kind: AuthorizationPolicy
                    metadata: {name: only-internal-address, namespace: istio-system}
                    spec:
                      action: DENY
                      rules: [{when: [{key: destination.ip, notValues: ["192.0.2.0/24"]}]}]
                    """
            )
        ])
        let fixture = try Self.fixture()
        let block = fixture.listeners[0]
        let listener = ListenerContext(
            routeTable: block.routeTable, server: block.server, declaredPort: block.declaredPort,
            authorization: AuthorizationEngine(policies: model.authorizationPolicies))
        func decide(_ local: String) -> String {
            RequestPlanner.plan(
                RequestHead(method: "GET", target: "/x", headers: HTTPHeaders([("host", "app.test")])),
                connection: ConnectionContext(
                    identity: device, peerAddress: IPAddress("198.51.100.7"),
                    localAddress: IPAddress(local), scheme: "https"),
                listener: listener
            ).action.kind
        }
        XCTAssertEqual(decide("192.0.2.1"), "forward")
        XCTAssertEqual(decide("203.0.113.9"), "deny")
    }
}
