import Foundation
import TestSupport
import XCTest

/// VirtualService features through the real gateway: weights, retries, redirects, direct responses,
/// header matches and rewrites, CORS, ServiceEntry endpoints, and Gateway-level client SAN pinning.
final class RoutingTests: XCTestCase {
    var harness: GatewayHarness!

    override func setUpWithError() throws {
        harness = try GatewayHarness()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
    }

    override func tearDown() { harness.stop() }

    /// Many requests on one curl invocation (keep-alive); returns each body.
    private func bodies(_ path: String, count: Int) throws -> [String] {
        let url = "https://\(Manifests.host):\(harness.port())\(path)"
        let result = try Command.run(
            "curl",
            [
                "-sS", "--resolve", "\(Manifests.host):\(harness.port()):127.0.0.1", "--cacert",
                harness.pki.caCertificate,
            ]
                + harness.pki.clientArguments("jinsu-macbook-tls") + Array(repeating: url, count: count))
        return result.stdout.components(separatedBy: "}\n{").map { $0 }
    }

    func testWeightedSplitRetriesRedirectsAndDirectResponses() throws {
        try harness.startUpstream("blue")
        try harness.startUpstream("green")
        try harness.write(
            "vs.yaml",
            Manifests.virtualService(
                routes: """
                        - match: [{uri: {prefix: /split}}]
                          rewrite: {uri: /anything}
                          route:
                          - {destination: {host: blue, port: {number: 80}}, weight: 80}
                          - {destination: {host: green, port: {number: 80}}, weight: 20}
                        - match: [{uri: {prefix: /fail-once}}]
                          retries: {attempts: 2, retryOn: 5xx}
                          route: [{destination: {host: blue, port: {number: 80}}}]
                        - match: [{uri: {prefix: /no-retry}}]
                          rewrite: {uri: /fail-once}
                          retries: {attempts: 0}
                          route: [{destination: {host: blue, port: {number: 80}}}]
                        - match: [{uri: {prefix: /old}}]
                          redirect: {uri: /new, redirectCode: 302}
                        - match: [{uri: {exact: /teapot}}]
                          directResponse: {status: 418, body: {string: "short and stout"}}
                        - match: [{headers: {x-canary: {exact: "yes"}}}]
                          headers: {request: {set: {x-routed: canary}}, response: {add: {x-served-by: green}}}
                          route: [{destination: {host: green, port: {number: 80}}}]
                        - route: [{destination: {host: blue, port: {number: 80}}}]
                    """))
        try harness.startGateway()

        let split = try bodies("/split", count: 200)
        let green = split.filter { $0.contains("\"upstream\": \"green\"") }.count
        let blue = split.filter { $0.contains("\"upstream\": \"blue\"") }.count
        XCTAssertEqual(blue + green, 200)
        XCTAssertTrue((20...60).contains(green), "20% of 200 expected, got \(green)")

        let retried = try harness.curl("/fail-once?key=a")
        XCTAssertEqual(retried.status, 200, retried.body)
        XCTAssertTrue(retried.body.contains("\"recovered\": \"a\""), retried.body)
        let notRetried = try harness.curl("/no-retry?key=b")
        XCTAssertEqual(notRetried.status, 503)

        let redirect = try harness.curl("/old/page?x=1", arguments: ["-D", "-"])
        XCTAssertEqual(redirect.status, 302)
        XCTAssertTrue(
            redirect.body.lowercased().contains("location: https://\(Manifests.host):\(harness.port())/new?x=1"),
            redirect.body)

        let teapot = try harness.curl("/teapot")
        XCTAssertEqual(teapot.status, 418)
        XCTAssertEqual(teapot.body, "short and stout")

        let canary = try harness.curl("/headers", arguments: ["-H", "X-Canary: yes", "-D", "-"])
        XCTAssertTrue(canary.body.contains("\"x-routed\": \"canary\""), canary.body)
        XCTAssertTrue(canary.body.lowercased().contains("x-served-by: green"), canary.body)
    }

    func testServiceEntrySkipsADeadEndpoint() throws {
        let live = try harness.startUpstream("api")
        let dead = try Network.freePort()
        try harness.write(
            "se.yaml",
            """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: api, namespace: istio-system}
            spec:
              hosts: [api.internal]
              ports: [{number: 80, name: http}]
              resolution: STATIC
              endpoints:
              - {address: 127.0.0.1, ports: {http: \(dead)}}
              - {address: 127.0.0.1, ports: {http: \(live)}}
            """)
        try harness.write("vs.yaml", Manifests.virtualService(destination: "api.internal"))
        try harness.startGateway()
        for _ in 0..<6 {
            XCTAssertEqual(
                try harness.curl("/uuid").status, 200,
                "the default retry on connect-failure must move to the live endpoint")
        }
    }

    func testCorsPreflightAndActualRequests() throws {
        try harness.startUpstream()
        try harness.write(
            "vs.yaml",
            Manifests.virtualService(
                extraRoute: """

                          corsPolicy:
                            allowOrigins: [{exact: "https://app.example.test"}]
                            allowMethods: [GET, POST]
                            allowHeaders: [x-token]
                            exposeHeaders: [x-request-id]
                            maxAge: 24h
                    """))
        try harness.startGateway()
        let preflight = try harness.curl(
            "/anything",
            arguments: [
                "-X", "OPTIONS", "-H", "Origin: https://app.example.test",
                "-H", "Access-Control-Request-Method: POST", "-D", "-",
            ])
        XCTAssertEqual(preflight.status, 200)
        let head = preflight.body.lowercased()
        XCTAssertTrue(head.contains("access-control-allow-origin: https://app.example.test"), head)
        XCTAssertTrue(head.contains("access-control-allow-methods: get,post"), head)
        XCTAssertTrue(head.contains("access-control-max-age: 86400"), head)
        let actual = try harness.curl("/uuid", arguments: ["-H", "Origin: https://app.example.test", "-D", "-"])
        XCTAssertTrue(actual.body.lowercased().contains("access-control-expose-headers: x-request-id"), actual.body)
        let other = try harness.curl("/uuid", arguments: ["-H", "Origin: https://evil.example.test", "-D", "-"])
        XCTAssertFalse(other.body.lowercased().contains("access-control-allow-origin"), other.body)
    }

    func testSubjectAltNamesAdmitOnlyTheListedClient() throws {
        try harness.startUpstream()
        try harness.write(
            "gw.yaml",
            Manifests.gateway(mode: "MUTUAL", extraTLS: "\n        subjectAltNames: ['spiffe://jinsu-iphone']"))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway()
        XCTAssertEqual(try harness.curl("/uuid", client: "jinsu-iphone-tls").status, 200)
        let other = try harness.curl("/uuid")
        XCTAssertNotEqual(other.exitCode, 0)
        XCTAssertTrue(other.stderr.contains("alert"), other.stderr)
        XCTAssertTrue(harness.gateway!.log.contains("application verification failure"), harness.gateway!.log)
    }

    func testHTTPSRedirectOnAPlainPort() throws {
        try harness.startUpstream()
        try harness.write(
            "gw.yaml",
            Manifests.gateway(mode: "SIMPLE") + Manifests.plainHTTPServer(httpsRedirect: true))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway(declaredPorts: [443, 80])
        let result = try harness.curl(
            "/uuid?a=b", declaredPort: 80, scheme: "http", client: nil, arguments: ["-D", "-"])
        XCTAssertEqual(result.status, 301)
        XCTAssertTrue(result.body.lowercased().contains("location: https://\(Manifests.host)/uuid?a=b"), result.body)
    }
}
