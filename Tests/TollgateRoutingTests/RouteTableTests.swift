import TollgateConfig
import TollgateCore
import TollgateRouting
import XCTest

private func table(_ yaml: String, server: Int = 0) throws -> RouteTable {
    let model = try ConfigLoader.load([("config.yaml", yaml)])
    let plan = try ListenerPlan.plan(model)[0]
    let selector = ServerNameSelector(blocks: plan.servers.map(\.server.hosts))
    return RouteTable(servers: [plan.servers[server]], portBlocks: (selector, server), model: model)
}

private let gateway = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata: {name: gw, namespace: istio-system}
    spec:
      servers:
      - hosts: ['*.example.test', 'exact.test']
        port: {number: 443, name: https, protocol: HTTPS}
        tls: {mode: SIMPLE, credentialName: c}
      - hosts: ['admin.test']
        port: {number: 443, name: https-admin, protocol: HTTPS}
        tls: {mode: MUTUAL, credentialName: admin}
    ---

    """

private func vs(
    _ name: String, hosts: String = "['*.example.test', 'exact.test']", gateways: String = "[istio-system/gw]",
    _ http: String
) -> String {
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: \(name), namespace: istio-system}\nspec:\n  hosts: \(hosts)\n  gateways: \(gateways)\n  http:\n\(http)\n---\n"
}

private func request(
    _ path: String, host: String = "a.example.test", method: String = "GET", headers: [(String, String)] = [],
    query: String? = nil
) -> RouteRequest {
    RouteRequest(
        method: method, path: path, query: query, authority: host, scheme: "https", headers: HTTPHeaders(headers),
        port: 443)
}

private func destination(_ decision: RouteDecision) -> String? {
    if case .forward(let plan) = decision.action { return plan.destinations.first?.destination.host }
    return nil
}

final class RouteTableTests: XCTestCase {
    func testFirstMatchWinsAndCatchAllsGoLast() throws {
        let t = try table(
            gateway
                + vs("a", "  - route: [{destination: {host: catchall}}]")
                + vs(
                    "b",
                    "  - match: [{uri: {exact: /x}}]\n    route: [{destination: {host: exact}}]\n  - match: [{uri: {prefix: /x}}]\n    route: [{destination: {host: prefix}}]"
                ))
        XCTAssertEqual(destination(t.route(request("/x"))), "exact")
        XCTAssertEqual(destination(t.route(request("/xy"))), "prefix")
        XCTAssertEqual(destination(t.route(request("/other"))), "catchall")
    }

    func testMatchKinds() throws {
        let t = try table(
            gateway
                + vs(
                    "a",
                    """
                      - match: [{uri: {regex: '/items/[0-9]+'}}]
                        route: [{destination: {host: regex}}]
                      - match: [{uri: {prefix: /CASE}, ignoreUriCase: true}]
                        route: [{destination: {host: nocase}}]
                      - match: [{headers: {x-canary: {exact: 'yes'}}}]
                        route: [{destination: {host: canary}}]
                      - match: [{queryParams: {debug: {exact: '1'}}}]
                        route: [{destination: {host: debug}}]
                      - match: [{method: {exact: DELETE}}]
                        route: [{destination: {host: delete}}]
                      - match: [{withoutHeaders: {x-user: {}}, uri: {prefix: /private}}]
                        route: [{destination: {host: anonymous}}]
                      - match: [{authority: {prefix: exact.test}}]
                        route: [{destination: {host: authority}}]
                    """))
        XCTAssertEqual(destination(t.route(request("/items/42"))), "regex")
        XCTAssertNil(destination(t.route(request("/items/4x"))))
        XCTAssertEqual(destination(t.route(request("/case/a"))), "nocase")
        XCTAssertEqual(destination(t.route(request("/z", headers: [("X-Canary", "yes")]))), "canary")
        XCTAssertEqual(destination(t.route(request("/z", query: "a=2&debug=1"))), "debug")
        XCTAssertEqual(destination(t.route(request("/z", method: "DELETE"))), "delete")
        XCTAssertEqual(destination(t.route(request("/private"))), "anonymous")
        XCTAssertNil(destination(t.route(request("/private", headers: [("x-user", "u")]))))
        XCTAssertEqual(destination(t.route(request("/q", host: "exact.test:443"))), "authority")
    }

    func testHostSelection() throws {
        let t = try table(
            gateway
                + vs("wild", hosts: "['*.example.test']", "  - route: [{destination: {host: wildcard}}]")
                + vs("one", hosts: "['one.example.test']", "  - route: [{destination: {host: specific}}]"))
        XCTAssertEqual(destination(t.route(request("/", host: "one.example.test:443"))), "specific")
        XCTAssertEqual(destination(t.route(request("/", host: "TWO.example.test"))), "wildcard")
        let miss = t.route(request("/", host: "exact.test"))
        XCTAssertEqual(miss.action, .notFound)
        XCTAssertEqual(
            t.route(request("/", host: "admin.test")).action, .misdirected, "another TLS server block's host")
        XCTAssertEqual(
            t.route(request("/", host: "elsewhere.test")).action, .misdirected, "a host no block of the port serves")
    }

    func testVirtualServiceOfAnotherGatewayIsIgnored() throws {
        let t = try table(
            gateway + vs("other", gateways: "[istio-system/other]", "  - route: [{destination: {host: x}}]"))
        XCTAssertEqual(t.route(request("/")).action, .notFound)
        let meshOnly = try table(gateway + vs("mesh", gateways: "[mesh]", "  - route: [{destination: {host: x}}]"))
        XCTAssertEqual(meshOnly.route(request("/")).action, .notFound)
    }

    func testNamespacedGatewayHostsLimitWhichVirtualServicesBind() throws {
        let gw = """
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata: {name: gw, namespace: istio-system}
            spec:
              servers:
              - hosts: ['apps/a.example.test', './b.example.test', 'c.example.test']
                port: {number: 443, name: https, protocol: HTTPS}
                tls: {mode: SIMPLE, credentialName: c}
            ---

            """
        func vsIn(_ namespace: String, _ host: String, _ dest: String) -> String {
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: \(dest), namespace: \(namespace)}\nspec:\n  hosts: [\(host)]\n  gateways: [istio-system/gw]\n  http: [{route: [{destination: {host: \(dest)}}]}]\n---\n"
        }
        let t = try table(
            gw + vsIn("apps", "a.example.test", "apps-a") + vsIn("other", "a.example.test", "other-a")
                + vsIn("other", "b.example.test", "other-b") + vsIn("istio-system", "b.example.test", "own-b")
                + vsIn("other", "c.example.test", "any-c"))
        XCTAssertEqual(destination(t.route(request("/", host: "a.example.test"))), "apps-a")
        XCTAssertEqual(destination(t.route(request("/", host: "b.example.test"))), "own-b")
        XCTAssertEqual(destination(t.route(request("/", host: "c.example.test"))), "any-c")
    }

    func testRewriteRedirectAndDirectResponse() throws {
        let t = try table(
            gateway
                + vs(
                    "a",
                    """
                      - match: [{uri: {prefix: /api/}}]
                        rewrite: {uri: /v2/, authority: backend.internal}
                        route: [{destination: {host: api}}]
                      - match: [{uri: {prefix: /old}}]
                        redirect: {uri: /new, redirectCode: 308}
                      - match: [{uri: {prefix: /moved}}]
                        redirect: {authority: exact.test, scheme: http, port: 8080}
                      - match: [{uri: {exact: /teapot}}]
                        directResponse: {status: 418, body: {string: short and stout}}
                      - match: [{uri: {prefix: /rx}}]
                        rewrite: {uriRegexRewrite: {match: '^/rx/(.*)$', rewrite: '/regex/\\1'}}
                        route: [{destination: {host: rx}}]
                    """))
        guard case .forward(let plan) = t.route(request("/api/users", query: "q=1")).action else {
            return XCTFail("no forward")
        }
        XCTAssertEqual(plan.target, "/v2/users?q=1")
        XCTAssertEqual(plan.authority, "backend.internal")
        XCTAssertEqual(
            t.route(request("/old/x", host: "a.example.test:8443", query: "k=v")).action,
            .redirect(status: 308, location: "https://a.example.test:8443/new?k=v"))
        XCTAssertEqual(
            t.route(request("/moved")).action, .redirect(status: 301, location: "http://exact.test:8080/moved"))
        XCTAssertEqual(
            t.route(request("/teapot")).action, .directResponse(status: 418, body: Array("short and stout".utf8)))
        guard case .forward(let rx) = t.route(request("/rx/a/b")).action else { return XCTFail("no forward") }
        XCTAssertEqual(rx.target, "/regex/a/b")
    }

    func testWeightedDestinations() throws {
        let t = try table(
            gateway
                + vs(
                    "a",
                    """
                      - route:
                        - {destination: {host: blue}, weight: 80}
                        - {destination: {host: green}, weight: 20}
                        - {destination: {host: never}, weight: 0}
                    """))
        guard case .forward(let plan) = t.route(request("/")).action else { return XCTFail("no forward") }
        XCTAssertEqual(plan.destinations.map(\.destination.host), ["blue", "green"])
        var counts: [String: Int] = [:]
        for r in stride(from: UInt64(0), to: 100, by: 1) {
            counts[plan.pick(random: r).destination.host, default: 0] += 1
        }
        XCTAssertEqual(counts, ["blue": 80, "green": 20])
        XCTAssertEqual(plan.retries, RetryPolicy(.istioDefault))
    }

    func testHTTPSRedirectServer() throws {
        let model = try ConfigLoader.load([
            (
                "g.yaml",
                """
                apiVersion: networking.istio.io/v1
                kind: Gateway
                metadata: {name: gw, namespace: istio-system}
                spec:
                  servers:
                  - hosts: [site.test]
                    port: {number: 80, name: http, protocol: HTTP}
                    tls: {httpsRedirect: true}
                """
            )
        ])
        let plan = try ListenerPlan.plan(model)[0]
        let t = RouteTable(servers: plan.servers, model: model)
        XCTAssertEqual(
            t.route(request("/a", host: "site.test", query: "x=1")).action,
            .redirect(status: 301, location: "https://site.test/a?x=1"))
    }

    func testListenerPlanRejectsConflicts() throws {
        let model = try ConfigLoader.load([
            (
                "g.yaml",
                gateway + """
                    apiVersion: networking.istio.io/v1
                    kind: Gateway
                    metadata: {name: gw2, namespace: istio-system}
                    spec:
                      servers:
                      - hosts: [exact.test]
                        port: {number: 443, name: https, protocol: HTTPS}
                        tls: {mode: SIMPLE, credentialName: c}
                      - hosts: [plain.test]
                        port: {number: 443, name: http, protocol: HTTP}
                    """
            )
        ])
        XCTAssertThrowsError(try ListenerPlan.plan(model)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("host exact.test on port 443 is already served by istio-system/gw"), text)
            XCTAssertTrue(text.contains("port 443 mixes HTTP and HTTPS servers"), text)
        }
        XCTAssertEqual(
            try ListenerPlan.plan(try ConfigLoader.load([("g.yaml", gateway)]), portMap: [443: 8443])[0].listenPort,
            8443)
    }
}

final class ForwardedHeadersTests: XCTestCase {
    private let identity = PeerIdentity(
        verified: true, subjectAltNames: [.uniformResourceIdentifier("spiffe://jinsu-macbook"), .dnsName("mac.local")],
        subject: "CN=jinsu-macbook,O=Home", leafSHA256: "ab12", leafPEM: "-----BEGIN CERTIFICATE-----\nMII+/=\n")

    func testClientSuppliedIdentityHeadersAreReplaced() {
        var headers = HTTPHeaders([
            ("Host", "h"), ("X-Forwarded-Client-Cert", "URI=spiffe://admin"), ("X-Forwarded-For", "1.2.3.4"),
            ("X-Forwarded-Proto", "http"), ("x-envoy-internal", "true"), ("X-Request-Id", "abc-123"),
        ])
        ForwardedHeaders.apply(
            to: &headers,
            .init(
                peerAddress: "127.0.0.1", scheme: "https",
                clientCertElement: ForwardedHeaders.clientCertElement(identity), requestID: "generated"))
        XCTAssertEqual(headers["x-forwarded-for"], "127.0.0.1")
        XCTAssertEqual(headers["x-forwarded-proto"], "https")
        XCTAssertEqual(
            headers["x-request-id"], "generated", "the exchange's id, which `clientRequestID` chose or generated")
        XCTAssertNil(headers["x-envoy-internal"])
        XCTAssertEqual(
            headers.values("x-forwarded-client-cert"),
            [
                "Hash=ab12;Cert=\"-----BEGIN%20CERTIFICATE-----%0AMII%2B%2F%3D%0A\";Subject=\"CN=jinsu-macbook,O=Home\";URI=spiffe://jinsu-macbook;DNS=mac.local"
            ])
    }

    func testAnonymousClientsGetNoXFCCAndTrustedProxiesAppend() {
        var headers = HTTPHeaders([("X-Forwarded-Client-Cert", "forged"), ("X-Forwarded-For", "198.51.100.1")])
        ForwardedHeaders.apply(
            to: &headers,
            .init(peerAddress: "10.0.0.2", scheme: "https", clientCertElement: nil, requestID: "r", trustedProxies: 1))
        XCTAssertNil(headers["x-forwarded-client-cert"])
        XCTAssertEqual(headers["x-forwarded-for"], "198.51.100.1, 10.0.0.2")
        XCTAssertEqual(headers["x-request-id"], "r")
    }

    func testOnlyASaneClientRequestIDIsKept() {
        func id(_ values: [String]) -> String? {
            ForwardedHeaders.clientRequestID(HTTPHeaders(values.map { ("X-Request-Id", $0) }))
        }
        XCTAssertEqual(id(["4c9d3b8e-2f6a-4e8b-9d1c-0a7b6c5d4e3f"]), "4c9d3b8e-2f6a-4e8b-9d1c-0a7b6c5d4e3f")
        XCTAssertEqual(id(["client-42.b:7_x"]), "client-42.b:7_x")
        XCTAssertEqual(id([String(repeating: "a", count: 128)]), String(repeating: "a", count: 128))
        for bad in ["a, b c", "a,b", "a b", "", String(repeating: "a", count: 129), "\"q\"", "a;b", "a/b", "é"] {
            XCTAssertNil(id([bad]), bad)
        }
        XCTAssertNil(id(["one", "two"]), "two ids: neither is the request's")
        XCTAssertNil(id([]))
    }

    func testTheExchangeIDReplacesWhateverTheClientSent() {
        var headers = HTTPHeaders([("X-Request-Id", "a, b c"), ("x-request-id", "second")])
        ForwardedHeaders.apply(
            to: &headers,
            ForwardedHeaders.Context(
                peerAddress: "192.0.2.7", scheme: "https", clientCertElement: nil,
                requestID: "generated"))
        XCTAssertEqual(headers.values("x-request-id"), ["generated"])
    }

    func testUnderscoreLookalikesOfProtectedFields() {
        for name in [
            "Transfer_Encoding", "content_length", "X_Forwarded_Client_Cert", "x_forwarded_for", "X-Forwarded_Proto",
            "x_request_id",
            "HOST", "host", "Connection", "keep_alive", "te", "x_envoy_original_path", "x_tollgate_principal",
            "Forwarded",
        ]
        where name.contains("_") {
            XCTAssertTrue(UnderscoreHeaders.isLookalike(name), name)
        }
        for name in [
            "Host", "Content-Length", "X_Custom", "host_", "_host", "x_forwarded", "user_agent", "x-forwarded-for",
        ] {
            XCTAssertFalse(UnderscoreHeaders.isLookalike(name), name)
        }
        var headers = HTTPHeaders([
            ("Host", "a"), ("Content_Length", "5"), ("X_Team", "blue"), ("transfer_encoding", "chunked"),
        ])
        XCTAssertEqual(UnderscoreHeaders.remove(from: &headers), ["Content_Length", "transfer_encoding"])
        XCTAssertEqual(headers, HTTPHeaders([("Host", "a"), ("X_Team", "blue")]))
    }

    func testPrincipalAndNamespace() {
        XCTAssertEqual(identity.principal, "jinsu-macbook")
        let mesh = PeerIdentity(
            verified: true, subjectAltNames: [.uniformResourceIdentifier("spiffe://cluster.local/ns/foo/sa/bar")],
            subject: "",
            leafSHA256: "", leafPEM: "")
        XCTAssertEqual(mesh.principal, "cluster.local/ns/foo/sa/bar")
        XCTAssertEqual(mesh.namespace, "foo")
        XCTAssertNil(PeerIdentity.anonymous.principal)
    }
}
