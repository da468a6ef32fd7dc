import TollgateConfig
import TollgateCore
import TollgatePlanner
import TollgatePolicy
import TollgateRouting
import XCTest

/// The enrollment path is the one door a client without a certificate may pass on a MUTUAL block that
/// opts in (`tollgate.io/enroll`): these are the attacker's attempts to widen it, and what each gets.
final class EnrollmentPlanTests: XCTestCase {
    /// Three MUTUAL blocks on 443 — without annotations (0), explain mode with enrollment (1), enrollment
    /// (2) — a plain HTTP server of the enrollment Gateway, and one that redirects to HTTPS.
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
          annotations: {tollgate.io/explain: "true", tollgate.io/enroll: "true"}
        spec:
          servers:
          - hosts: [pages.test]
            port: {number: 443, name: https-pages, protocol: HTTPS}
            tls: {mode: MUTUAL, credentialName: pages-tls}
        ---
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: devices
          namespace: istio-system
          annotations: {tollgate.io/enroll: "true", tollgate.io/whoami-path: /.tollgate/whoami}
        spec:
          servers:
          - hosts: [devices.test]
            port: {number: 443, name: https-devices, protocol: HTTPS}
            tls: {mode: MUTUAL, credentialName: devices-tls}
          - hosts: [devices.test]
            port: {number: 80, name: http-devices, protocol: HTTP}
        ---
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: redirecting
          namespace: istio-system
          annotations: {tollgate.io/enroll: "true"}
        spec:
          servers:
          - hosts: [redirecting.test]
            port: {number: 80, name: http-redirecting, protocol: HTTP}
            tls: {httpsRedirect: true}
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: routes, namespace: istio-system}
        spec:
          hosts: [app.test, pages.test, devices.test, redirecting.test]
          gateways: [istio-system/app, istio-system/pages, istio-system/devices, istio-system/redirecting]
          http:
          - route: [{destination: {host: server}}]
        """

    static let token = String(repeating: "A", count: 42) + "_"

    private let device = PeerIdentity(
        verified: true, subjectAltNames: [.uniformResourceIdentifier("spiffe://jinsu-macbook")],
        subject: "CN=jinsu-macbook", leafSHA256: "00", leafPEM: "")

    /// The plan for a request on the `devices` block (port 443, index 2) or its plain HTTP server.
    private func plan(
        _ target: String, host: String = "devices.test", method: String = "GET", certificate: Bool = false,
        plainHTTP: Bool = false, block: Int = 2, plainBlock: Int = 0, headers: [(String, String)] = []
    ) throws -> RequestPlan {
        let model = try ConfigLoader.load([("config.yaml", Self.yaml)])
        let plans = try ListenerPlan.plan(model)
        let port = plans.first { $0.declaredPort == (plainHTTP ? 80 : 443) }!
        let index = plainHTTP ? plainBlock : block
        let selector = ServerNameSelector(blocks: port.servers.map(\.server.hosts))
        let listener = ListenerContext(
            routeTable: RouteTable(servers: [port.servers[index]], portBlocks: (selector, index), model: model),
            server: port.servers[index], declaredPort: port.declaredPort,
            authorization: AuthorizationEngine(policies: model.authorizationPolicies))
        return RequestPlanner.plan(
            RequestHead(method: method, target: target, headers: HTTPHeaders([("host", host)] + headers)),
            connection: ConnectionContext(
                identity: certificate ? device : .anonymous, hasCertificateProblem: !certificate && !plainHTTP,
                serverName: host, peerAddress: IPAddress("198.51.100.7"), scheme: plainHTTP ? "http" : "https"),
            listener: listener)
    }

    func testOnlyTheEnrollmentPathIsServedWithoutACertificate() throws {
        let t = Self.token
        let cases: [(String, RequestPlan, String)] = [
            ("the page", try plan("/.tollgate/enroll/\(t)"), "enroll page"),
            ("the bundle", try plan("/.tollgate/enroll/\(t)/bundle.p12"), "enroll bundle.p12"),
            ("the CA", try plan("/.tollgate/enroll/\(t)/ca.crt"), "enroll ca.crt"),
            ("HEAD of the bundle", try plan("/.tollgate/enroll/\(t)/bundle.p12", method: "HEAD"), "enroll bundle.p12"),
            ("a query does not matter", try plan("/.tollgate/enroll/\(t)?utm=x"), "enroll page"),
            ("absolute form, same host", try plan("https://devices.test/.tollgate/enroll/\(t)"), "enroll page"),
            // Everything else on the block, for a client without a certificate:
            ("the root", try plan("/"), "certificate required"),
            ("a routed path", try plan("/x"), "certificate required"),
            ("whoami is not for them either", try plan("/.tollgate/whoami"), "certificate required"),
            ("dot segments out of the prefix", try plan("/.tollgate/enroll/../x"), "certificate required"),
            ("encoded dot segments", try plan("/.tollgate/enroll/%2e%2e/%2e%2e/x"), "certificate required"),
            ("a sibling prefix", try plan("/.tollgate/enrollment"), "certificate required"),
            ("the prefix without a slash", try plan("/.tollgate/enroll"), "certificate required"),
            ("case", try plan("/.TOLLGATE/enroll/\(t)"), "certificate required"),
            ("case of the segment", try plan("/.tollgate/Enroll/\(t)"), "certificate required"),
            ("backslash", try plan("/.tollgate\\enroll/\(t)/..\\..\\x"), "certificate required"),
            ("another block's host", try plan("/.tollgate/enroll/\(t)", host: "app.test"), "misdirected"),
            ("absolute form naming another block", try plan("https://app.test/.tollgate/enroll/\(t)"), "misdirected"),
            // Under the prefix but not a link: answered (and counted) as a wrong token, never routed.
            ("escaped bytes in the link", try plan("/.tollgate/enroll/%41\(t.dropFirst())"), "enroll malformed"),
            ("dots inside the prefix", try plan("/.tollgate/enroll/x/../\(t)"), "enroll malformed"),
            ("encoded slash", try plan("/.tollgate/enroll/\(t)%2Fbundle.p12"), "enroll malformed"),
            ("short token", try plan("/.tollgate/enroll/abc"), "enroll malformed"),
            ("long token", try plan("/.tollgate/enroll/\(t)A"), "enroll malformed"),
            ("token with a dot", try plan("/.tollgate/enroll/\(t.dropFirst()).", method: "GET"), "enroll malformed"),
            ("unknown resource", try plan("/.tollgate/enroll/\(t)/tls.key"), "enroll malformed"),
            ("trailing slash", try plan("/.tollgate/enroll/\(t)/"), "enroll malformed"),
            ("deeper", try plan("/.tollgate/enroll/\(t)/bundle.p12/x"), "enroll malformed"),
            ("other methods", try plan("/.tollgate/enroll/\(t)/bundle.p12", method: "POST"), "direct 405"),
            // With a verified certificate the block is as before; the prefix stays the gateway's.
            ("device: routed", try plan("/x", certificate: true), "forward"),
            ("device: whoami", try plan("/.tollgate/whoami", certificate: true), "whoami"),
            ("device: may enroll another", try plan("/.tollgate/enroll/\(t)", certificate: true), "enroll page"),
            // Never over plain HTTP, and not on Gateways that did not opt in.
            // A link typed with http:// is answered there, so its token never reaches the upstream's logs.
            ("plain HTTP: the link", try plan("/.tollgate/enroll/\(t)", plainHTTP: true), "direct 404"),
            ("plain HTTP: elsewhere routed", try plan("/x", plainHTTP: true), "forward"),
            (
                "plain HTTP redirecting to HTTPS: the link too",
                try plan("/.tollgate/enroll/\(t)", host: "redirecting.test", plainHTTP: true, plainBlock: 1),
                "redirect 301"
            ),
            (
                "a block without the annotation", try plan("/.tollgate/enroll/\(t)", host: "app.test", block: 0),
                "certificate required"
            ),
            (
                "explain mode: the link", try plan("/.tollgate/enroll/\(t)", host: "pages.test", block: 1),
                "enroll page"
            ),
            ("explain mode: elsewhere its page", try plan("/x", host: "pages.test", block: 1), "explain certificate"),
        ]
        for (what, plan, expected) in cases {
            XCTAssertEqual(plan.action.kind, expected, what)
        }
    }

    func testTheRequestCarriesTokenAndClient() throws {
        guard case .enroll(let request) = try plan("/.tollgate/enroll/\(Self.token)/bundle.p12").action else {
            return XCTFail()
        }
        XCTAssertEqual(request.token, Self.token)
        XCTAssertEqual(request.resource, .bundle)
        XCTAssertEqual(request.client, IPAddress("198.51.100.7"), "attempts count against the peer")
        guard
            case .enroll(let spoofed) = try plan(
                "/.tollgate/enroll/x", headers: [("x-forwarded-for", "203.0.113.1")]
            ).action
        else { return XCTFail() }
        XCTAssertEqual(spoofed.client, IPAddress("198.51.100.7"), "x-forwarded-for from an untrusted client is ignored")
        XCTAssertNil(spoofed.token)
    }

    /// Logs keep a target up to the first enrollment prefix, wherever it is: what follows may be a live token.
    func testALoggedTargetStopsAtTheEnrollmentPrefix() {
        XCTAssertEqual(EnrollmentRequest.redacted("/p/.tollgate/enroll/tok?x=1"), "/p/.tollgate/enroll/…")
        XCTAssertEqual(EnrollmentRequest.redacted("/.tollgate/enroll"), "/.tollgate/enroll")
        XCTAssertEqual(EnrollmentRequest.redacted("/.tollgate/enrol/tok"), "/.tollgate/enrol/tok")
        XCTAssertEqual(EnrollmentRequest.redacted("/.t/.tollgate/enroll/"), "/.t/.tollgate/enroll/…")
    }

    /// Spellings that normalize to the prefix (or that a reader would take for it) are cut as well, at the
    /// spelling's own end: the token after them is just as live.
    func testALoggedTargetStopsAtAnySpellingOfTheEnrollmentPrefix() {
        for (target, kept) in [
            ("/.tollgate/./enroll/tok", "/.tollgate/./enroll/"),
            ("/%2Etollgate/enroll/tok", "/%2Etollgate/enroll/"),
            ("/%2etollgate/%65nroll/tok", "/%2etollgate/%65nroll/"),
            ("/.tollgate/x/../enroll/tok", "/.tollgate/x/../enroll/"),
            ("/.tollgate\\enroll\\tok", "/.tollgate\\enroll\\"),
            ("/.tollgate%2Fenroll%2ftok", "/.tollgate%2Fenroll%2f"),
            ("https://h/a/..%2F.tollgate/enroll/tok", "https://h/a/..%2F.tollgate/enroll/"),
        ] {
            XCTAssertEqual(EnrollmentRequest.redacted(target), kept + "…", target)
        }
        XCTAssertEqual(EnrollmentRequest.redacted("/api/enroll/tok"), "/api/enroll/tok")
        XCTAssertEqual(EnrollmentRequest.redacted("/.tollgate/whoami"), "/.tollgate/whoami")
        XCTAssertEqual(EnrollmentRequest.redacted("/.tollgate/enroll%"), "/.tollgate/enroll%")
    }
}
