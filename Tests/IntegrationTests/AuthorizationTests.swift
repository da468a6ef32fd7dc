import Foundation
import TestSupport
import XCTest

/// AuthorizationPolicy end to end: allow-lists, path-scoped rules, the explain pages and whoami.
final class AuthorizationTests: XCTestCase {
    var harness: GatewayHarness!

    override func setUpWithError() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("vs.yaml", Manifests.virtualService())
    }

    override func tearDown() { harness.stop() }

    private func gateway(mode: String, annotations: [String: String] = [:]) -> String {
        let gw = Manifests.gateway(mode: mode)
        guard !annotations.isEmpty else { return gw }
        let lines = annotations.map { "    \($0.key): '\($0.value)'" }.joined(separator: "\n")
        return gw.replacingOccurrences(
            of: "  name: mtls-gateway\n", with: "  name: mtls-gateway\n  annotations:\n\(lines)\n")
    }

    func testAllowListAndPathScopedRules() throws {
        try harness.write("gw.yaml", gateway(mode: "MUTUAL"))
        try harness.write(
            "policy.yaml",
            """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: devices, namespace: istio-system}
            spec:
              selector: {matchLabels: {istio: ingressgateway}}
              action: ALLOW
              rules:
              - from: [{source: {principals: [jinsu-iphone]}}]
              - from: [{source: {principals: [jinsu-macbook]}}]
                to: [{operation: {paths: ['/public/*', /uuid], methods: [GET]}}]
            """)
        try harness.startGateway()
        XCTAssertEqual(try harness.curl("/anything/private", client: "jinsu-iphone-tls").status, 200)
        XCTAssertEqual(try harness.curl("/uuid").status, 200)
        let privatePath = try harness.curl("/anything/private")
        XCTAssertEqual(privatePath.status, 403)
        XCTAssertEqual(privatePath.body, "RBAC: access denied")
        XCTAssertEqual(try harness.curl("/uuid", arguments: ["-X", "POST"]).status, 403)
        // Path normalization: no `..` way around a path rule.
        XCTAssertEqual(try harness.curl("/public/../anything/private", arguments: ["--path-as-is"]).status, 403)
        XCTAssertEqual(try harness.curl("/public/%2e%2e/anything/private", arguments: ["--path-as-is"]).status, 403)
        XCTAssertTrue(harness.gateway!.log.contains("rbac_access_denied_matched_policy[none]"), harness.gateway!.log)
    }

    /// `destination.ip` is the gateway's own address of the connection (Istio evaluates it as the local address).
    func testDestinationIPConditionsAreEvaluated() throws {
        try harness.write("gw.yaml", gateway(mode: "MUTUAL"))
        try harness.write(
            "policy.yaml",
            """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: by-destination, namespace: istio-system}
            spec:
              action: DENY
              rules:
              - to: [{operation: {paths: [/uuid]}}]
                when: [{key: destination.ip, values: [127.0.0.0/8]}]
              - to: [{operation: {paths: ['/anything/*']}}]
                when: [{key: destination.ip, notValues: [127.0.0.1]}]
              - to: [{operation: {paths: [/headers]}}]
                when: [{key: destination.ip, values: [10.0.0.0/8]}]
            """)
        try harness.startGateway()
        XCTAssertEqual(try harness.curl("/uuid").status, 403, "the connection's local address is in 127.0.0.0/8")
        XCTAssertEqual(try harness.curl("/anything/x").status, 200, "notValues holds only for other local addresses")
        XCTAssertEqual(try harness.curl("/headers").status, 200)
        XCTAssertTrue(
            harness.gateway!.log.contains(
                "rbac_access_denied_matched_policy[ns[istio-system]-policy[by-destination]-rule[0]]"),
            harness.gateway!.log)
    }

    func testExplainModeTellsTheDeviceWhyAndWhoamiShowsItsIdentity() throws {
        try harness.write(
            "gw.yaml",
            gateway(
                mode: "MUTUAL",
                annotations: ["tollgate.io/explain": "true", "tollgate.io/whoami-path": "/.tollgate/whoami"]))
        try harness.copySeed("authorizationpolicy.yaml")
        try harness.startGateway()

        let denied = try harness.curl("/uuid")
        XCTAssertEqual(denied.status, 403)
        XCTAssertTrue(denied.body.hasPrefix("RBAC: access denied\n"), denied.body)
        XCTAssertTrue(denied.body.contains("You were seen as: principal jinsu-macbook"), denied.body)
        XCTAssertTrue(denied.body.contains("DENY policy istio-system/istio-ingressgateway-deny rule 0"), denied.body)
        XCTAssertTrue(denied.body.contains("Request id: "), denied.body)

        let browser = try harness.curl("/uuid", arguments: ["-H", "Accept: text/html,application/xhtml+xml"])
        XCTAssertTrue(browser.body.hasPrefix("<!doctype html>"), browser.body)
        XCTAssertTrue(browser.body.contains("principal jinsu-macbook"), browser.body)

        // No certificate: the handshake completes and the page says what to do; nothing reaches the upstream.
        let noCert = try harness.curl("/uuid", client: nil)
        XCTAssertEqual(noCert.status, 403, noCert.stderr)
        XCTAssertTrue(noCert.body.hasPrefix("No client certificate"), noCert.body)
        let expired = try harness.curl("/uuid", client: "expired-client-tls")
        XCTAssertTrue(expired.body.hasPrefix("Certificate expired"), expired.body)
        XCTAssertTrue(expired.body.contains("CN=expired-client expired on 2020-02-01"), expired.body)
        let rogue = try harness.curl("/headers", client: "rogue-client-tls")
        XCTAssertTrue(rogue.body.hasPrefix("Certificate from an unknown issuer"), rogue.body)
        XCTAssertFalse(rogue.body.contains("x-forwarded-client-cert"), "an unverified client must never be forwarded")

        let whoami = try harness.curl("/.tollgate/whoami", client: "jinsu-iphone-tls")
        XCTAssertEqual(whoami.status, 200)
        XCTAssertTrue(whoami.body.contains("\"principal\" : \"jinsu-iphone\""), whoami.body)
        XCTAssertTrue(whoami.body.contains("\"allowed\" : true"), whoami.body)
        XCTAssertTrue(whoami.body.contains("spiffe://jinsu-iphone"), whoami.body)
        let whoamiDenied = try harness.curl("/.tollgate/whoami")
        XCTAssertTrue(whoamiDenied.body.contains("\"allowed\" : false"), whoamiDenied.body)
        XCTAssertTrue(whoamiDenied.body.contains("istio-ingressgateway-deny"), whoamiDenied.body)
        let whoamiNone = try harness.curl("/.tollgate/whoami", client: nil)
        XCTAssertTrue(whoamiNone.body.contains("\"status\" : \"none presented\""), whoamiNone.body)

        let log = harness.gateway!.log
        XCTAssertFalse(
            log.contains("\"GET /uuid HTTP/1.1\" 200"), "no denied or unverified request may reach the upstream: \(log)"
        )
    }

    func testWithoutExplainModeTheWhoamiPathIsAnOrdinaryPath() throws {
        try harness.write("gw.yaml", gateway(mode: "MUTUAL"))
        try harness.startGateway()
        let result = try harness.curl("/.tollgate/whoami")
        XCTAssertEqual(result.status, 404, "the demo upstream answers unknown paths with 404")
        XCTAssertTrue(result.body.contains("not found"), result.body)
    }
}
