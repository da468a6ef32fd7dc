import TollgateConfig
import TollgateCore
import TollgatePolicy
import XCTest

/// A client as the policy sees it.
private struct Client {
    var uris: [String] = []
    var dns: [String] = []
    var subject = ""
    var verified = true
    var ip = "203.0.113.7"
    var remoteIP: String? = nil

    static let macbook = Client(uris: ["spiffe://jinsu-macbook"], subject: "CN=jinsu-macbook")
    static let iphone = Client(uris: ["spiffe://jinsu-iphone"], subject: "CN=jinsu-iphone")
    static let mesh = Client(uris: ["spiffe://cluster.local/ns/foo/sa/bar"], subject: "CN=bar")
    static let anonymous = Client(verified: false)

    var identity: PeerIdentity {
        guard verified else { return .anonymous }
        return PeerIdentity(
            verified: true, subjectAltNames: uris.map { .uniformResourceIdentifier($0) } + dns.map { .dnsName($0) },
            subject: subject, leafSHA256: "00", leafPEM: "")
    }
}

private struct Request {
    var client = Client.macbook
    var method = "GET"
    var path = "/"
    var host = "gw.test"
    var port = 443
    var sni: String? = "gw.test"
    var headers: [(String, String)] = []
}

private func policies(_ yaml: String) throws -> [AuthorizationPolicy] {
    try ConfigLoader.load([("policy.yaml", yaml)]).authorizationPolicies
}

/// `spec` lines indented by two spaces; namespace istio-system unless given.
private func policy(_ spec: String) -> String { policy("p", spec) }
private func policy(namespace: String, _ spec: String) -> String { policy("p", namespace: namespace, spec) }

private func policy(_ name: String, namespace: String = "istio-system", _ spec: String) -> String {
    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: \(name), namespace: \(namespace)}\nspec:\n\(spec)\n---\n"
}

private func decide(_ yaml: String, _ r: Request) throws -> AuthorizationDecision {
    let engine = AuthorizationEngine(policies: try policies(yaml))
    return engine.evaluate(
        RequestAttributes(
            identity: r.client.identity, sourceIP: IPAddress(r.client.ip),
            remoteIP: r.client.remoteIP.flatMap(IPAddress.init),
            host: r.host, method: r.method, path: r.path, destinationPort: r.port,
            destinationIP: IPAddress("192.0.2.1"),
            serverName: r.sni, headers: HTTPHeaders(r.headers)))
}

final class AuthorizationEngineTests: XCTestCase {
    /// (what, policies, request, allowed)
    private typealias Case = (String, String, Request, Bool)

    private func run(_ cases: [Case], file: StaticString = #filePath, line: UInt = #line) throws {
        for (what, yaml, request, allowed) in cases {
            let decision = try decide(yaml, request)
            XCTAssertEqual(decision.allowed, allowed, "\(what): \(decision.reason)", file: file, line: line)
        }
    }

    func testEmptyAndDegenerateForms() throws {
        let allowNothing = policy("  {}")
        let allowAll = policy("allow-all", "  action: ALLOW\n  rules: [{}]")
        let denyAll = policy("deny-all", "  action: DENY\n  rules: [{}]")
        try run([
            ("no policy allows", "", Request(), true),
            ("spec {} is allow-nothing", allowNothing, Request(), false),
            ("rules [{}] allows all", allowAll, Request(), true),
            ("rules [{}] allows anonymous", allowAll, Request(client: .anonymous), true),
            ("DENY [{}] denies all", denyAll, Request(), false),
            ("DENY beats ALLOW", allowAll + denyAll, Request(), false),
            ("allow-nothing plus allow-all allows", allowNothing + policy("q", "  rules: [{}]"), Request(), true),
            ("AUDIT alone never denies", policy("  action: AUDIT\n  rules: [{}]"), Request(), true),
        ])
    }

    func testTheWalkthroughDenyPolicy() throws {
        let seed = policy(
            "istio-ingressgateway-deny",
            "  action: DENY\n  selector:\n    matchLabels: {istio: ingressgateway}\n  rules:\n  - from:\n    - source:\n        principals: ['jinsu-macbook']"
        )
        try run([
            ("the macbook is denied", seed, Request(client: .macbook), false),
            ("the iphone passes", seed, Request(client: .iphone), true),
            (
                "a certificate with only CN=jinsu-macbook passes (principal is the SPIFFE URI)", seed,
                Request(client: Client(subject: "CN=jinsu-macbook")), true
            ),
            (
                "a DNS SAN spiffe://jinsu-macbook also matches, as Envoy tests DNS SANs", seed,
                Request(client: Client(dns: ["spiffe://jinsu-macbook"])), false
            ),
            ("no certificate: DENY on principals does not apply", seed, Request(client: .anonymous), true),
        ])
        let decision = try decide(seed, Request(client: .macbook))
        XCTAssertEqual(decision.matchedPolicy, "ns[istio-system]-policy[istio-ingressgateway-deny]-rule[0]")
        XCTAssertEqual(
            decision.responseDetails,
            "rbac_access_denied_matched_policy[ns[istio-system]-policy[istio-ingressgateway-deny]-rule[0]]")
    }

    func testPrincipalForms() throws {
        func allowPrincipal(_ v: String) -> String { policy("  rules: [{from: [{source: {principals: ['\(v)']}}]}]") }
        try run([
            ("exact", allowPrincipal("jinsu-macbook"), Request(client: .macbook), true),
            ("exact other", allowPrincipal("jinsu-macbook"), Request(client: .iphone), false),
            ("prefix", allowPrincipal("jinsu-*"), Request(client: .iphone), true),
            ("prefix miss", allowPrincipal("team-*"), Request(client: .iphone), false),
            ("suffix", allowPrincipal("*-iphone"), Request(client: .iphone), true),
            ("suffix miss", allowPrincipal("*-ipad"), Request(client: .iphone), false),
            ("* any identity", allowPrincipal("*"), Request(client: .iphone), true),
            ("* needs a certificate", allowPrincipal("*"), Request(client: .anonymous), false),
            ("* accepts a CN-only certificate", allowPrincipal("*"), Request(client: Client(subject: "CN=x")), true),
            ("mesh principal", allowPrincipal("cluster.local/ns/foo/sa/bar"), Request(client: .mesh), true),
            (
                "second URI SAN counts", allowPrincipal("b"),
                Request(client: Client(uris: ["spiffe://a", "spiffe://b"])), true
            ),
            (
                "non-spiffe URI never matches a principal", allowPrincipal("jinsu-macbook"),
                Request(client: Client(uris: ["https://jinsu-macbook"])), false
            ),
        ])
    }

    func testNegativeIdentityFieldsWithAndWithoutCertificates() throws {
        let requireCert = policy("  action: DENY\n  rules: [{from: [{source: {notPrincipals: ['*']}}]}]")
        let notMacbook = policy("  rules: [{from: [{source: {notPrincipals: ['jinsu-macbook']}}]}]")
        let notNs = policy("  rules: [{from: [{source: {notNamespaces: ['foo']}}]}]")
        try run([
            ("DENY notPrincipals * blocks anonymous", requireCert, Request(client: .anonymous), false),
            ("DENY notPrincipals * lets certificates in", requireCert, Request(client: .iphone), true),
            ("ALLOW notPrincipals admits others", notMacbook, Request(client: .iphone), true),
            ("ALLOW notPrincipals refuses the named", notMacbook, Request(client: .macbook), false),
            (
                "ALLOW notPrincipals admits anonymous (negative always matches)", notMacbook,
                Request(client: .anonymous), true
            ),
            ("ALLOW notNamespaces admits anonymous", notNs, Request(client: .anonymous), true),
            ("ALLOW notNamespaces refuses that namespace", notNs, Request(client: .mesh), false),
        ])
    }

    func testNamespaces() throws {
        let ns = policy("  rules: [{from: [{source: {namespaces: ['foo']}}]}]")
        try run([
            ("namespace from SPIFFE path", ns, Request(client: .mesh), true),
            (
                "other namespace", policy("  rules: [{from: [{source: {namespaces: ['prod']}}]}]"),
                Request(client: .mesh), false
            ),
            ("no namespace in a device identity", ns, Request(client: .macbook), false),
            ("anonymous never has a namespace", ns, Request(client: .anonymous), false),
            (
                "namespace prefix", policy("  rules: [{from: [{source: {namespaces: ['fo*']}}]}]"),
                Request(client: .mesh), true
            ),
        ])
    }

    func testIPBlocks() throws {
        try run([
            ("ipv4 cidr", policy("  rules: [{from: [{source: {ipBlocks: ['203.0.113.0/24']}}]}]"), Request(), true),
            (
                "ipv4 cidr miss", policy("  rules: [{from: [{source: {ipBlocks: ['198.51.100.0/24']}}]}]"), Request(),
                false
            ),
            ("single ip", policy("  rules: [{from: [{source: {ipBlocks: ['203.0.113.7']}}]}]"), Request(), true),
            (
                "notIpBlocks", policy("  action: DENY\n  rules: [{from: [{source: {notIpBlocks: ['10.0.0.0/8']}}]}]"),
                Request(), false
            ),
            (
                "ipv6 cidr", policy("  rules: [{from: [{source: {ipBlocks: ['2001:db8::/32']}}]}]"),
                Request(client: Client(uris: [], ip: "2001:db8::5")), true
            ),
            (
                "ipv6 cidr miss", policy("  rules: [{from: [{source: {ipBlocks: ['2001:db9::/32']}}]}]"),
                Request(client: Client(uris: [], ip: "2001:db8::5")), false
            ),
            (
                "ipv4 block never matches ipv6", policy("  rules: [{from: [{source: {ipBlocks: ['0.0.0.0/0']}}]}]"),
                Request(client: Client(uris: [], ip: "::1")), false
            ),
            (
                "ipv4-mapped ipv6 is ipv4", policy("  rules: [{from: [{source: {ipBlocks: ['127.0.0.0/8']}}]}]"),
                Request(client: Client(uris: [], ip: "::ffff:127.0.0.1")), true
            ),
            (
                "remoteIpBlocks uses the trusted client address",
                policy("  rules: [{from: [{source: {remoteIpBlocks: ['192.0.2.0/24']}}]}]"),
                Request(client: Client(uris: [], ip: "10.0.0.1", remoteIP: "192.0.2.9")), true
            ),
            (
                "remoteIpBlocks equals the peer without proxies",
                policy("  rules: [{from: [{source: {remoteIpBlocks: ['192.0.2.0/24']}}]}]"),
                Request(client: Client(uris: [], ip: "10.0.0.1")), false
            ),
        ])
    }

    func testOperations() throws {
        try run([
            (
                "path exact", policy("  rules: [{to: [{operation: {paths: ['/admin']}}]}]"), Request(path: "/admin"),
                true
            ),
            (
                "path exact miss", policy("  rules: [{to: [{operation: {paths: ['/admin']}}]}]"),
                Request(path: "/admin/x"), false
            ),
            (
                "path prefix", policy("  rules: [{to: [{operation: {paths: ['/api/*']}}]}]"), Request(path: "/api/v1"),
                true
            ),
            (
                "path suffix", policy("  rules: [{to: [{operation: {paths: ['*.png']}}]}]"), Request(path: "/a/b.png"),
                true
            ),
            (
                "path template one segment", policy("  rules: [{to: [{operation: {paths: ['/u/{*}/info']}}]}]"),
                Request(path: "/u/7/info"), true
            ),
            (
                "path template not two segments", policy("  rules: [{to: [{operation: {paths: ['/u/{*}/info']}}]}]"),
                Request(path: "/u/7/8/info"), false
            ),
            (
                "path template rest", policy("  rules: [{to: [{operation: {paths: ['/files/{**}']}}]}]"),
                Request(path: "/files/a/b/c"), true
            ),
            (
                "notPaths", policy("  rules: [{to: [{operation: {notPaths: ['/private/*']}}]}]"),
                Request(path: "/private/x"), false
            ),
            (
                "method", policy("  rules: [{to: [{operation: {methods: ['GET', 'HEAD']}}]}]"), Request(method: "HEAD"),
                true
            ),
            (
                "method is case-sensitive", policy("  rules: [{to: [{operation: {methods: ['get']}}]}]"),
                Request(method: "GET"), false
            ),
            (
                "notMethods", policy("  rules: [{to: [{operation: {notMethods: ['DELETE']}}]}]"),
                Request(method: "DELETE"), false
            ),
            (
                "host case-insensitive", policy("  rules: [{to: [{operation: {hosts: ['GW.test']}}]}]"),
                Request(host: "gw.TEST"), true
            ),
            (
                "host with port is another value (istio#44080)",
                policy("  rules: [{to: [{operation: {hosts: ['gw.test']}}]}]"),
                Request(host: "gw.test:443"), false
            ),
            (
                "host suffix with port wildcard", policy("  rules: [{to: [{operation: {hosts: ['gw.test:*']}}]}]"),
                Request(host: "gw.test:443"), true
            ),
            (
                "host wildcard", policy("  rules: [{to: [{operation: {hosts: ['*.test']}}]}]"),
                Request(host: "gw.test"), true
            ),
            (
                "notHosts", policy("  rules: [{to: [{operation: {notHosts: ['gw.test']}}]}]"), Request(host: "gw.test"),
                false
            ),
            ("ports", policy("  rules: [{to: [{operation: {ports: ['443']}}]}]"), Request(port: 443), true),
            ("notPorts", policy("  rules: [{to: [{operation: {notPorts: ['443']}}]}]"), Request(port: 443), false),
            (
                "fields in one operation AND",
                policy("  rules: [{to: [{operation: {methods: ['GET'], paths: ['/a']}}]}]"),
                Request(method: "GET", path: "/b"), false
            ),
            (
                "operations OR",
                policy("  rules: [{to: [{operation: {paths: ['/a']}}, {operation: {paths: ['/b']}}]}]"),
                Request(path: "/b"), true
            ),
        ])
    }

    func testConditions() throws {
        func when(_ c: String) -> String { policy("  rules: [{when: [\(c)]}]") }
        try run([
            (
                "header value", when("{key: 'request.headers[X-Team]', values: ['blue']}"),
                Request(headers: [("x-team", "blue")]), true
            ),
            ("header missing", when("{key: 'request.headers[X-Team]', values: ['blue']}"), Request(), false),
            (
                "header presence", when("{key: 'request.headers[X-Team]', values: ['*']}"),
                Request(headers: [("X-Team", "red")]), true
            ),
            (
                "header notValues", when("{key: 'request.headers[X-Team]', notValues: ['red']}"),
                Request(headers: [("X-Team", "red")]), false
            ),
            (
                "header notValues with header absent", when("{key: 'request.headers[X-Team]', notValues: ['red']}"),
                Request(), true
            ),
            (
                "values and notValues AND",
                when("{key: 'request.headers[X-Team]', values: ['r*'], notValues: ['red']}"),
                Request(headers: [("X-Team", "rose")]), true
            ),
            ("source.ip", when("{key: source.ip, values: ['203.0.113.0/24']}"), Request(), true),
            ("remote.ip", when("{key: remote.ip, values: ['203.0.113.7']}"), Request(), true),
            ("destination.ip", when("{key: destination.ip, values: ['192.0.2.0/24']}"), Request(), true),
            ("destination.ip other", when("{key: destination.ip, values: ['10.0.0.0/8']}"), Request(), false),
            ("destination.ip notValues", when("{key: destination.ip, notValues: ['192.0.2.1']}"), Request(), false),
            ("destination.ip notValues other", when("{key: destination.ip, notValues: ['10.0.0.1']}"), Request(), true),
            ("source.principal", when("{key: source.principal, values: ['jinsu-macbook']}"), Request(), true),
            (
                "source.principal anonymous", when("{key: source.principal, values: ['*']}"),
                Request(client: .anonymous), false
            ),
            ("source.namespace", when("{key: source.namespace, values: ['foo']}"), Request(client: .mesh), true),
            ("destination.port", when("{key: destination.port, values: ['8443']}"), Request(port: 443), false),
            ("connection.sni", when("{key: connection.sni, values: ['*.test']}"), Request(), true),
            (
                "all conditions must hold",
                policy(
                    "  rules: [{when: [{key: source.ip, values: ['203.0.113.7']}, {key: connection.sni, values: ['other']}]}]"
                ), Request(), false
            ),
        ])
    }

    func testRuleCombinations() throws {
        let combined = policy(
            """
              rules:
              - from: [{source: {principals: ['jinsu-iphone']}}]
                to: [{operation: {methods: ['GET']}}]
              - from: [{source: {principals: ['jinsu-macbook']}}]
                to: [{operation: {paths: ['/public/*']}}]
            """)
        try run([
            ("rule 1 from and to", combined, Request(client: .iphone, method: "GET"), true),
            ("rule 1 to fails", combined, Request(client: .iphone, method: "POST"), false),
            ("rule 2", combined, Request(client: .macbook, path: "/public/x"), true),
            ("rule 2 to fails", combined, Request(client: .macbook, path: "/private"), false),
            (
                "sources OR",
                policy("  rules: [{from: [{source: {principals: ['x']}}, {source: {ipBlocks: ['203.0.113.7']}}]}]"),
                Request(), true
            ),
            (
                "fields in one source AND",
                policy("  rules: [{from: [{source: {principals: ['jinsu-macbook'], ipBlocks: ['10.0.0.0/8']}}]}]"),
                Request(), false
            ),
            (
                "X and notX AND",
                policy("  rules: [{from: [{source: {principals: ['jinsu-*'], notPrincipals: ['jinsu-macbook']}}]}]"),
                Request(client: .macbook), false
            ),
        ])
    }

    func testSelectionByLabelsAndNamespace() throws {
        let otherLabels = policy("  action: DENY\n  selector: {matchLabels: {app: other}}\n  rules: [{}]")
        let otherNamespace = policy("elsewhere", namespace: "apps", "  action: DENY\n  rules: [{}]")
        let rootNoSelector = policy(namespace: "istio-system", "  action: DENY\n  rules: [{}]")
        try run([
            ("selector for another workload does not apply", otherLabels, Request(), true),
            ("policy in another namespace does not apply", otherNamespace, Request(), true),
            ("root namespace policy without selector applies", rootNoSelector, Request(), false),
        ])
        let engine = AuthorizationEngine(policies: try policies(otherLabels + otherNamespace))
        XCTAssertEqual(engine.skipped.count, 2)
        let custom = AuthorizationEngine(policies: try policies(otherLabels), labels: ["app": "other"])
        XCTAssertFalse(
            custom.evaluate(
                RequestAttributes(
                    identity: .anonymous, sourceIP: nil, host: "h", method: "GET", path: "/",
                    destinationPort: 443, destinationIP: nil)
            ).allowed)
    }

    func testDryRunAndAudit() throws {
        let dryRun = """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: shadow, namespace: istio-system, annotations: {istio.io/dry-run: "true"}}
            spec: {action: DENY, rules: [{}]}
            """
        let decision = try decide(dryRun, Request())
        XCTAssertTrue(decision.allowed)
        XCTAssertEqual(decision.dryRunDenied, ["ns[istio-system]-policy[shadow]-rule[0]"])
        let audit = try decide(
            policy("a", "  action: AUDIT\n  rules: [{to: [{operation: {paths: ['/x']}}]}]"), Request(path: "/x"))
        XCTAssertTrue(audit.allowed)
        XCTAssertEqual(audit.audited, ["ns[istio-system]-policy[a]-rule[0]"])
    }

    func testAllowMissNamesNone() throws {
        let decision = try decide(policy("  rules: [{to: [{operation: {paths: ['/only']}}]}]"), Request(path: "/other"))
        XCTAssertFalse(decision.allowed)
        XCTAssertEqual(decision.responseDetails, "rbac_access_denied_matched_policy[none]")
    }
}
