import Foundation
import TestSupport
import XCTest

/// The walkthrough of shared/seed, step by step, with its manifests verbatim: SIMPLE, then MUTUAL by
/// live reload, then the DENY policy that shuts out one device while another still gets in.
final class WalkthroughTests: XCTestCase {
    var harness: GatewayHarness!

    override func tearDown() { harness.stop() }

    private func copySeed(_ name: String, as target: String? = nil) throws { try harness.copySeed(name, as: target) }

    private func reload() throws {
        let before = harness.gateway!.log.components(separatedBy: "configuration reloaded").count
        harness.gateway!.signal(SIGHUP)
        try waitUntil(timeout: 20, "the gateway to reload") {
            harness.gateway!.log.components(separatedBy: "configuration reloaded").count > before
        }
    }

    func testTheFiveSteps() throws {
        harness = try GatewayHarness()
        // Step 1: the server to protect (the Deployment/Service are noticed and skipped; `server` maps to the demo upstream).
        try harness.startUpstream("server")
        try copySeed("server.yaml")
        // Step 2 (certificates) is the harness PKI, in the secret layout credentialName expects.
        // Step 3: a SIMPLE gateway with the server certificate.
        try copySeed("gateway.yaml")
        try harness.startGateway()
        let log = harness.gateway!.log
        XCTAssertTrue(log.contains("skipping Deployment server"), log)

        let simple = try harness.curl("/uuid", client: nil)
        XCTAssertEqual(simple.status, 200, simple.stderr)
        XCTAssertTrue(simple.body.contains("\"uuid\""), simple.body)
        XCTAssertEqual(
            try harness.curl("/uuid", client: nil, trustCA: false).exitCode, 60,
            "without the CA the server is not trusted")

        // Step 4: require client certificates, by live reload.
        try copySeed("gateway-mutual.yaml", as: "gateway.yaml")
        try reload()
        let noCert = try harness.curl("/uuid", client: nil)
        XCTAssertNotEqual(noCert.exitCode, 0)
        XCTAssertTrue(noCert.stderr.contains("alert certificate required"), noCert.stderr)
        let macbook = try harness.curl("/headers")
        XCTAssertEqual(macbook.status, 200, macbook.stderr)
        XCTAssertTrue(macbook.body.contains("URI=spiffe://jinsu-macbook"), macbook.body)

        // Step 5: block one device by its SPIFFE principal.
        try copySeed("authorizationpolicy.yaml")
        try reload()
        let denied = try harness.curl("/uuid")
        XCTAssertEqual(denied.status, 403)
        XCTAssertEqual(denied.body, "RBAC: access denied")
        let iphone = try harness.curl("/uuid", client: "jinsu-iphone-tls")
        XCTAssertEqual(iphone.status, 200, iphone.stderr)

        // Access-log lines are written in batches a few milliseconds apart.
        try waitUntil(timeout: 10, "the access log of the denied request") {
            harness.gateway!.log.contains("\"GET /uuid HTTP/1.1\" 403")
        }
        let finalLog = harness.gateway!.log
        XCTAssertTrue(finalLog.contains("policy=ns[istio-system]-policy[istio-ingressgateway-deny]-rule[0]"), finalLog)
        XCTAssertTrue(finalLog.contains("peer.principal=jinsu-macbook"), finalLog)
        XCTAssertTrue(
            finalLog.contains(
                "\"GET /uuid HTTP/1.1\" 403 - rbac_access_denied_matched_policy[ns[istio-system]-policy[istio-ingressgateway-deny]-rule[0]]"
            ),
            finalLog)
    }

    /// The walkthrough's own upstream, kennethreitz/httpbin, from PyPI instead of a container.
    func testWithRealHTTPBin() throws {
        guard GatewayHarness.httpbinAvailable else {
            // scripts/test installs httpbin and gunicorn from PyPI; without them only this variant is skipped.
            throw XCTSkip("httpbin/gunicorn not installed (pip install httpbin gunicorn)")
        }
        harness = try GatewayHarness()
        try harness.startHTTPBin("server")
        try copySeed("server.yaml")
        try copySeed("gateway-mutual.yaml")
        try copySeed("authorizationpolicy.yaml")
        try harness.startGateway()
        let headers = try harness.curl("/headers", client: "jinsu-iphone-tls")
        XCTAssertEqual(headers.status, 200, headers.stderr)
        XCTAssertTrue(headers.body.contains("\"X-Forwarded-Client-Cert\""), headers.body)
        XCTAssertTrue(headers.body.contains("URI=spiffe://jinsu-iphone"), headers.body)
        XCTAssertEqual(try harness.curl("/status/418", client: "jinsu-iphone-tls").status, 418)
        let posted = try harness.curl("/anything", client: "jinsu-iphone-tls", arguments: ["-d", "hello=world"])
        XCTAssertTrue(posted.body.contains("\"hello\": \"world\""), posted.body)
        let denied = try harness.curl("/uuid")
        XCTAssertEqual(denied.status, 403)
        XCTAssertEqual(denied.body, "RBAC: access denied")
    }

    func testABrokenReloadKeepsTheRunningConfiguration() throws {
        harness = try GatewayHarness()
        try harness.startUpstream("server")
        try copySeed("server.yaml")
        try copySeed("gateway-mutual.yaml")
        try harness.startGateway()
        XCTAssertEqual(try harness.curl("/uuid").status, 200)
        try harness.write(
            "broken.yaml",
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: x}\nspec:\n  servers:\n  - hosts: [a]\n    port: {number: 1, protocol: HTTP}\n    tls: {mood: SIMPLE}\n"
        )
        harness.gateway!.signal(SIGHUP)
        try waitUntil(timeout: 20, "the reload to be rejected") {
            harness.gateway!.log.contains("configuration rejected")
        }
        XCTAssertTrue(
            harness.gateway!.log.contains("broken.yaml:8: error: spec.servers[0].tls.mood: unknown field"),
            harness.gateway!.log)
        XCTAssertEqual(try harness.curl("/uuid").status, 200, "the previous configuration keeps serving")
    }
}
