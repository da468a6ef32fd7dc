import TollgateConfig
import TollgateCore
import TollgatePolicy
import TollgateTLS
import XCTest

@testable import TollgateServer

/// The explain and whoami pages, word for word where a person reads them. Time is injected:
/// "now" is 3 Dec 2026 00:00 UTC in every test.
final class ExplainPageTests: XCTestCase {
    static let now: Int64 = 1_796_256_000
    static let day: Int64 = 86_400
    static let deny = AuthorizationDecision(
        allowed: false, matchedPolicy: "ns[istio-system]-policy[istio-ingressgateway-deny]-rule[0]",
        reason: "denied by DENY policy istio-system/istio-ingressgateway-deny rule 0")
    static let allow = AuthorizationDecision(allowed: true, matchedPolicy: nil, reason: "no ALLOW policy applies")

    static func macbook(expiresIn seconds: Int64 = 365 * day) -> PeerIdentity {
        PeerIdentity(
            verified: true,
            subjectAltNames: [.uniformResourceIdentifier("spiffe://jinsu-macbook"), .dnsName("jinsu-macbook.lab")],
            subject: "CN=jinsu-macbook", leafSHA256: "ab12", leafPEM: "", notAfter: now + seconds,
            issuer: "CN=self-signed-ca")
    }

    static func context(html: Bool = true, contact: String? = nil, method: String = "GET", path: String = "/uuid")
        -> ExplainPage.Context
    {
        ExplainPage.Context(
            requestID: "2f0d6f7e-1111", html: html, contact: contact.map { try! ContactLink(validating: $0) }, now: now,
            method: method, host: "gw.test:8443", path: path)
    }

    /// What a person sees without opening "Details for the operator", and what is inside it.
    static func split(_ page: ExplainPage.Page) -> (person: String, operator: String) {
        let html = String(decoding: page.body, as: UTF8.self)
        guard let details = html.range(of: "<details>") else { return (html, "") }
        return (String(html[..<details.lowerBound]), String(html[details.lowerBound...]))
    }

    static func text(_ page: ExplainPage.Page) -> String { String(decoding: page.body, as: UTF8.self) }

    static let operatorWords = ["RBAC", "principal", "SAN", "Decision for", "policy", "CN=", "T00:00:00Z", "rule 0"]

    static var allHTMLPages: [(String, ExplainPage.Page)] {
        let summary = CertificateSummary(
            subject: "CN=old-phone", issuer: "CN=self-signed-ca", notBefore: now - 800 * day, notAfter: now - 2 * day)
        var pages: [(String, ExplainPage.Page)] = [
            ("denied", ExplainPage.denied(deny, identity: macbook(), context: context())),
            ("denied without certificate", ExplainPage.denied(deny, identity: .anonymous, context: context())),
            (
                "whoami",
                ExplainPage.whoami(
                    identity: macbook(), problem: nil, tls: nil as ExplainPage.TLSSession?, decision: allow,
                    context: context())
            ),
            (
                "whoami without certificate",
                ExplainPage.whoami(
                    identity: .anonymous, problem: .missing, tls: nil as ExplainPage.TLSSession?,
                    decision: allow, context: context())
            ),
        ]
        for problem: ClientCertificateProblem in [
            .missing, .untrustedIssuer(summary), .expired(summary), .notYetValid(summary), .revoked(summary),
            .invalid(summary, "it is not one of the certificates this site admits"),
        ] {
            pages.append(("\(problem)", ExplainPage.certificateProblem(problem, context: context())))
        }
        return pages
    }

    // MARK: Every page reads on a phone

    func testEveryHTMLPageHasAViewportStacksLabelsAndWrapsLongValues() {
        for (name, page) in Self.allHTMLPages {
            let html = Self.text(page)
            XCTAssertEqual(page.contentType, "text/html; charset=utf-8", name)
            XCTAssertTrue(html.contains(#"<meta name="viewport" content="width=device-width, initial-scale=1">"#), name)
            XCTAssertTrue(html.contains("overflow-wrap:anywhere"), name)
            XCTAssertTrue(html.contains("@media (max-width:600px){body{margin-top:1rem}dl>div{display:block}"), name)
            XCTAssertTrue(
                html.contains("<details><summary>Details for the operator</summary>"),
                "\(name): operator details are collapsed")
            XCTAssertFalse(html.contains("<details open"), name)
            XCTAssertTrue(html.contains("<dt>Request id</dt><dd>2f0d6f7e-1111</dd>"), name)
        }
    }

    /// Item 3: what a person reads before opening the operator's details has none of the operator's words.
    func testOperatorWordsOnlyInsideTheCollapsedDetails() {
        for (name, page) in Self.allHTMLPages {
            let (person, _) = Self.split(page)
            let body = person.components(separatedBy: "<body>").last ?? person
            for word in Self.operatorWords {
                XCTAssertFalse(
                    body.contains(word), "\(name): '\(word)' is shown outside the operator's details:\n\(body)")
            }
        }
    }

    // MARK: Denied

    func testDeniedPageInPlainWords() {
        let (person, operatorPart) = Self.split(
            ExplainPage.denied(Self.deny, identity: Self.macbook(), context: Self.context()))
        XCTAssertTrue(person.contains("<title>This device isn&#39;t allowed to open this page</title>"), person)
        XCTAssertTrue(person.contains("<h1>This device isn&#39;t allowed to open this page</h1>"), person)
        XCTAssertTrue(
            person.contains(
                "<p>The site recognised this device as “jinsu-macbook”, but its rules don&#39;t let it open /uuid. Other pages on this site may still work.</p>"
            ), person)
        XCTAssertTrue(person.contains("<dt>Device name</dt><dd>jinsu-macbook</dd>"), person)
        XCTAssertTrue(person.contains("<dt>Page</dt><dd>gw.test/uuid</dd>"), person)
        XCTAssertTrue(person.contains("<dt>Certificate expires</dt><dd>3 Dec 2027, in 12 months</dd>"), person)
        XCTAssertTrue(
            person.contains(
                "If this device should be allowed here, send the request id above to whoever gave you this device&#39;s certificate."
            ), person)
        XCTAssertFalse(person.contains("class=\"warning\""), "a year left: no warning")
        XCTAssertTrue(
            operatorPart.contains(
                "<dt>Seen as</dt><dd>principal jinsu-macbook, certificate CN=jinsu-macbook, issued by CN=self-signed-ca</dd>"
            ), operatorPart)
        XCTAssertTrue(
            operatorPart.contains(
                "<dt>Decision</dt><dd>denied by DENY policy istio-system/istio-ingressgateway-deny rule 0</dd>"),
            operatorPart)
        XCTAssertTrue(operatorPart.contains("<dt>Request</dt><dd>GET /uuid on gw.test:8443</dd>"), operatorPart)
    }

    func testDeniedPostNamesTheMethod() {
        let (person, _) = Self.split(
            ExplainPage.denied(Self.deny, identity: Self.macbook(), context: Self.context(method: "POST")))
        XCTAssertTrue(person.contains("don&#39;t let it send POST requests to /uuid."), person)
    }

    func testDeniedWithoutACertificateAsksForOne() {
        let (person, _) = Self.split(ExplainPage.denied(Self.deny, identity: .anonymous, context: Self.context()))
        XCTAssertTrue(person.contains("<h1>This page needs a device certificate</h1>"), person)
        XCTAssertTrue(
            person.contains("this site lets only known devices open /uuid. Other pages on this site may still work."),
            person)
        XCTAssertTrue(person.contains("<h2>Already installed it?</h2>"), person)
    }

    /// The curl answer is byte for byte what it was: Envoy's first line, then the operator's facts.
    func testPlainTextDenialIsUnchanged() {
        let page = ExplainPage.denied(Self.deny, identity: Self.macbook(), context: Self.context(html: false))
        XCTAssertEqual(page.contentType, "text/plain; charset=utf-8")
        XCTAssertEqual(
            Self.text(page),
            """
            RBAC: access denied

            You were seen as: principal jinsu-macbook, certificate CN=jinsu-macbook, issued by CN=self-signed-ca
            Decision: denied by DENY policy istio-system/istio-ingressgateway-deny rule 0
            Request id: 2f0d6f7e-1111
            What to do: If you should have access, send the request id to the operator of this gateway and ask them to allow your principal.

            """)
        let anonymous = ExplainPage.denied(Self.deny, identity: .anonymous, context: Self.context(html: false))
        XCTAssertTrue(
            Self.text(anonymous).hasPrefix("RBAC: access denied\n\nYou were seen as: no client certificate\n"),
            Self.text(anonymous))
        let noCertificate = ExplainPage.certificateProblem(.missing, context: Self.context(html: false))
        XCTAssertEqual(
            Self.text(noCertificate),
            """
            No client certificate

            What happened: This site admits known devices only and your browser sent no certificate. Install the .p12 file you were given (it holds your certificate and key), restart the browser, reload, and pick the certificate when asked.
            Request id: 2f0d6f7e-1111

            """)
    }

    // MARK: Contact (item 4)

    func testContactLinkCarriesTheRequestID() {
        let (person, _) = Self.split(
            ExplainPage.denied(
                Self.deny, identity: Self.macbook(), context: Self.context(contact: "mailto:ops@example.com")))
        XCTAssertTrue(
            person.contains(
                "If this device should be allowed here, ask the operator of this site with the link below: it carries the request id."
            ), person)
        XCTAssertTrue(
            person.contains(
                #"<a class="contact" href="mailto:ops@example.com?subject=Request%202f0d6f7e-1111%20on%20gw.test&amp;body=Request%20id%3A%202f0d6f7e-1111%0D%0APage%3A%20GET%20gw.test%3A8443%2Fuuid%0D%0AIt%20said%3A%20This%20device%20isn%27t%20allowed%20to%20open%20this%20page%0D%0A%0D%0A">Email the operator (the request id is filled in)</a>"#
            ), person)
        let web = Self.split(
            ExplainPage.certificateProblem(
                .missing, context: Self.context(contact: "https://help.example.com/ticket#new"))
        ).person
        XCTAssertTrue(
            web.contains(
                #"<a class="contact" href="https://help.example.com/ticket?request_id=2f0d6f7e-1111#new">Contact the operator (the request id is passed on)</a>"#
            ), web)
        XCTAssertTrue(web.contains("Still stuck? Ask the operator of this site with the link below"), web)
    }

    func testWithoutContactNoLink() {
        for (name, page) in Self.allHTMLPages {
            XCTAssertFalse(Self.text(page).contains("<a "), name)
        }
    }

    func testPlainTextNamesTheContactOnlyWhenConfigured() {
        let page = Self.text(
            ExplainPage.denied(
                Self.deny, identity: Self.macbook(),
                context: Self.context(html: false, contact: "mailto:ops@example.com")))
        XCTAssertTrue(page.hasPrefix("RBAC: access denied\n"), page)
        XCTAssertTrue(page.hasSuffix("ask them to allow your principal.\nContact: mailto:ops@example.com\n"), page)
    }

    // MARK: whoami (item 5)

    func testWhoamiWithoutACertificateOnAMutualBlockSaysEveryPageIsRefused() throws {
        let page = ExplainPage.whoami(
            identity: .anonymous, problem: .missing, tls: nil as ExplainPage.TLSSession?, decision: Self.allow,
            context: Self.context(path: "/.tollgate/whoami"))
        let (person, operatorPart) = Self.split(page)
        XCTAssertTrue(person.contains("<h1>This browser sent no device certificate</h1>"), person)
        XCTAssertTrue(
            person.contains("Your browser didn&#39;t send a device certificate, so the site refuses every page."),
            person)
        XCTAssertFalse(person.contains("allowed"), person)
        XCTAssertTrue(
            operatorPart.contains(
                "<dt>Decision for GET /</dt><dd>denied: every request is refused: client certificate none presented</dd>"
            ), operatorPart)

        let json = ExplainPage.whoami(
            identity: .anonymous, problem: .missing, tls: nil as ExplainPage.TLSSession?, decision: Self.allow,
            context: Self.context(html: false))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.body)) as? [String: Any])
        let decision = try XCTUnwrap(object["decision"] as? [String: Any])
        XCTAssertEqual(decision["allowed"] as? Bool, false)
        XCTAssertEqual(decision["reason"] as? String, "every request is refused: client certificate none presented")
        XCTAssertEqual((object["certificate"] as? [String: Any])?["status"] as? String, "none presented")
    }

    func testWhoamiWithoutACertificateWhereNoneIsRequiredGivesThePolicyDecision() {
        let page = ExplainPage.whoami(
            identity: .anonymous, problem: nil, tls: nil as ExplainPage.TLSSession?, decision: Self.allow,
            context: Self.context())
        let (person, _) = Self.split(page)
        XCTAssertTrue(
            person.contains(
                "The site sees you as a visitor without a certificate. You may open this site&#39;s home page (/)."),
            person)
        XCTAssertTrue(person.contains("<dt>Home page (/)</dt><dd>allowed</dd>"), person)
    }

    func testWhoamiWithACertificate() throws {
        let tls = ExplainPage.TLSSession(
            serverName: "gw.test", version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", resumed: false)
        let page = ExplainPage.whoami(
            identity: Self.macbook(), problem: nil, tls: tls, decision: Self.deny,
            context: Self.context(path: "/.tollgate/whoami"))
        let (person, operatorPart) = Self.split(page)
        XCTAssertTrue(person.contains("<h1>Your device, as this site sees it</h1>"), person)
        XCTAssertTrue(
            person.contains(
                "This browser sent the certificate of “jinsu-macbook”. With it, you may not open this site&#39;s home page (/); other pages may still work."
            ), person)
        XCTAssertTrue(person.contains("<dt>Certificate expires</dt><dd>3 Dec 2027, in 12 months</dd>"), person)
        XCTAssertTrue(person.contains("<dt>Home page (/)</dt><dd>not allowed for this device</dd>"), person)
        XCTAssertTrue(operatorPart.contains("<dt>Principal</dt><dd>jinsu-macbook</dd>"), operatorPart)
        XCTAssertTrue(
            operatorPart.contains("<dt>SANs</dt><dd>spiffe://jinsu-macbook, jinsu-macbook.lab</dd>"), operatorPart)
        XCTAssertTrue(operatorPart.contains("<dt>Expires</dt><dd>2027-12-03T00:00:00Z</dd>"), operatorPart)
        XCTAssertTrue(
            operatorPart.contains("<dt>TLS</dt><dd>TLSv1.3, TLS_AES_128_GCM_SHA256, SNI gw.test</dd>"), operatorPart)

        let json = ExplainPage.whoami(
            identity: Self.macbook(), problem: nil, tls: tls, decision: Self.allow, context: Self.context(html: false))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.body)) as? [String: Any])
        XCTAssertEqual(object["principal"] as? String, "jinsu-macbook")
        XCTAssertEqual((object["decision"] as? [String: Any])?["allowed"] as? Bool, true)
        XCTAssertNil(object["contact"])
    }

    // MARK: A certificate the browser did not send (item 6)

    func testNoCertificatePageHelpsPeopleWhoHaveOneInstalled() {
        let (person, _) = Self.split(ExplainPage.certificateProblem(.missing, context: Self.context()))
        XCTAssertTrue(person.contains("<h1>This site needs a device certificate</h1>"), person)
        XCTAssertTrue(person.contains("<h2>If you were given a certificate file (.p12)</h2>"), person)
        XCTAssertTrue(
            person.contains(
                "Then restart the browser, open this page again, and choose the certificate when the browser asks."),
            person)
        XCTAssertTrue(person.contains("<h2>Already installed it?</h2>"), person)
        XCTAssertTrue(person.contains("so yours may have expired or be for another site. Check its dates"), person)
        XCTAssertTrue(
            person.contains("<li>Chrome, Edge: Settings → Privacy and security → Security → Manage certificates</li>"),
            person)
        XCTAssertTrue(
            person.contains(
                "<li>Firefox: Settings → Privacy &amp; Security → Certificates → View Certificates → Your Certificates</li>"
            ), person)
        XCTAssertTrue(person.contains("<li>Safari on a Mac: Keychain Access → My Certificates</li>"), person)
        XCTAssertTrue(person.contains("If it has expired, ask for a renewed one."), person)
        XCTAssertTrue(
            person.contains("quit and restart the browser: it remembers that answer until it restarts."), person)
    }

    func testEachCertificateProblemInPlainWords() {
        let summary = CertificateSummary(
            subject: "CN=old-phone,O=Lab", issuer: "CN=other-ca", notBefore: Self.now + 3 * Self.day,
            notAfter: Self.now - 2 * Self.day)
        let expected: [(ClientCertificateProblem, String, String)] = [
            (
                .untrustedIssuer(summary), "This certificate is for another site",
                "Your browser sent the certificate “old-phone”, issued by “other-ca”, which this site doesn&#39;t accept, so the site refuses every page."
            ),
            (
                .expired(summary), "Your device certificate has expired",
                "The certificate “old-phone” expired on 1 Dec 2026, 2 days ago, so the site refuses every page."
            ),
            (
                .notYetValid(summary), "Your device certificate isn&#39;t valid yet",
                "The certificate “old-phone” is valid from 6 Dec 2026, in 3 days, so the site refuses every page."
            ),
            (
                .revoked(summary), "Your device certificate has been withdrawn",
                "The certificate “old-phone” was revoked by the operator, so the site refuses every page."
            ),
            (
                .invalid(summary, "it is not one of the certificates this site admits"),
                "Your device certificate was refused",
                "The site refused the certificate “old-phone” (it is not one of the certificates this site admits), so the site refuses every page."
            ),
        ]
        for (problem, title, lead) in expected {
            let (person, operatorPart) = Self.split(ExplainPage.certificateProblem(problem, context: Self.context()))
            XCTAssertTrue(person.contains("<h1>\(title)</h1>"), person)
            XCTAssertTrue(person.contains("<p>\(lead)</p>"), person)
            XCTAssertTrue(operatorPart.contains("<dt>Subject</dt><dd>CN=old-phone,O=Lab</dd>"), operatorPart)
            XCTAssertTrue(operatorPart.contains("<dt>Issuer</dt><dd>CN=other-ca</dd>"), operatorPart)
        }
    }

    // MARK: Expiry warning (item 7)

    func testWarningWhenTheCertificateExpiresWithinFourteenDays() {
        let soon = Self.macbook(expiresIn: 13 * Self.day)
        let warning =
            "<p class=\"warning\" role=\"alert\">This device&#39;s certificate expires on 16 Dec 2026, in 13 days. Ask for a renewed one before then: after that, this site will refuse this device.</p>"
        let denied = Self.split(ExplainPage.denied(Self.deny, identity: soon, context: Self.context())).person
        XCTAssertTrue(denied.contains(warning), denied)
        let whoami = Self.split(
            ExplainPage.whoami(
                identity: soon, problem: nil, tls: nil as ExplainPage.TLSSession?, decision: Self.allow,
                context: Self.context())
        ).person
        XCTAssertTrue(whoami.contains(warning), whoami)
        XCTAssertTrue(
            whoami.range(of: "class=\"warning\"")!.lowerBound
                < whoami.range(of: "This browser sent the certificate")!.lowerBound,
            "the warning comes first")

        for seconds in [15 * Self.day, 14 * Self.day] {
            let later = Self.macbook(expiresIn: seconds)
            let page = Self.text(
                ExplainPage.whoami(
                    identity: later, problem: nil, tls: nil as ExplainPage.TLSSession?, decision: Self.allow,
                    context: Self.context()))
            XCTAssertFalse(page.contains("class=\"warning\""), "\(seconds / Self.day) days left: \(page)")
        }
        let plain = Self.text(ExplainPage.denied(Self.deny, identity: soon, context: Self.context(html: false)))
        XCTAssertFalse(plain.contains("expires on"), "the plain-text answer is unchanged: \(plain)")
    }

    // MARK: Untrusted text

    func testCertificateAndRequestTextIsEscaped() {
        let hostile = PeerIdentity(
            verified: true, subjectAltNames: [.uniformResourceIdentifier("spiffe://a<script>")],
            subject: "CN=<img src=x onerror=alert(1)>",
            leafSHA256: "", leafPEM: "", notAfter: Self.now + 100 * Self.day, issuer: "CN=\"ca\"")
        var context = Self.context(path: "/<b>")
        context.requestID = "\"><script>alert(1)</script>"
        let html = Self.text(ExplainPage.denied(Self.deny, identity: hostile, context: context))
        XCTAssertFalse(html.contains("<script>"), html)
        XCTAssertFalse(html.contains("<img"), html)
        XCTAssertFalse(html.contains("<b>"), html)
        XCTAssertTrue(html.contains("&lt;img src=x onerror=alert(1)&gt;"), html)
    }

    func testCommonNameOfADistinguishedName() {
        XCTAssertEqual(ExplainPage.commonName("CN=jinsu-macbook"), "jinsu-macbook")
        XCTAssertEqual(ExplainPage.commonName("O=Lab,CN=a\\,b"), "a,b")
        XCTAssertNil(ExplainPage.commonName("O=Lab"))
        XCTAssertEqual(
            ExplainPage.deviceName(
                PeerIdentity(verified: true, subjectAltNames: [], subject: "O=Lab", leafSHA256: "", leafPEM: "")),
            "O=Lab")
    }
}
