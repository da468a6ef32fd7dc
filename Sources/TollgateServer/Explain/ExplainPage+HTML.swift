import TollgateConfig
import TollgateCore
import TollgatePolicy
import TollgateTLS

/// The browser pages in plain words: what happened and what the person can do first, with the page
/// named; policy names, distinguished names and timestamps only under "Details for the operator".
extension ExplainPage {
    static func deniedHTML(_ decision: AuthorizationDecision, identity: PeerIdentity, context: Context)
        -> HTMLExplanation
    {
        let request = requestPhrase(context)
        var page: HTMLExplanation
        if identity.verified {
            let name = deviceName(identity)
            page = HTMLExplanation(
                title: "This device isn't allowed to open this page",
                lead: [
                    "The site recognised this device as “\(name)”, but its rules don't let it \(request). Other pages on this site may still work."
                ],
                facts: [("Device name", name), ("Page", context.hostName + context.path)]
                    + expiryFact(identity.notAfter, context)
                    + [("Request id", context.requestID)],
                sections: [whatYouCanDo(["If this device should be allowed here, \(askTheOperator(context))"])])
            page.warnings = expiryWarning(identity.notAfter, context: context).map { [$0] } ?? []
        } else {
            page = HTMLExplanation(
                title: "This page needs a device certificate",
                lead: [
                    "Your browser didn't send a device certificate, and this site lets only known devices \(request). Other pages on this site may still work."
                ],
                facts: [("Page", context.hostName + context.path), ("Request id", context.requestID)],
                sections: installSections(context))
        }
        page.contact = context.contact.map { contactLink($0, title: page.title, context: context) }
        page.operatorDetails = [
            ("Seen as", seenAs(identity)), ("Decision", decision.reason), ("Request", requestLine(context)),
            ("Request id", context.requestID),
        ]
        return page
    }

    static func certificateProblemHTML(_ problem: ClientCertificateProblem, context: Context) -> HTMLExplanation {
        let refused = "so the site refuses every page."
        // Title, what happened, what the person can do.
        let (title, lead, todo): (String, String, [String])
        switch problem {
        case .missing:
            (title, lead, todo) = (
                "This site needs a device certificate", "Your browser didn't send a device certificate, \(refused)", []
            )
        case .untrustedIssuer(let s):
            (title, lead, todo) = (
                "This certificate is for another site",
                "Your browser sent the certificate “\(name(s))”, issued by “\(commonName(s.issuer) ?? s.issuer)”, which this site doesn't accept, \(refused)",
                [
                    "If you have several certificates, restart the browser, open this page again and choose the one you were given for this site.",
                    "If you have none for this site, \(askTheOperator(context))",
                ]
            )
        case .expired(let s):
            (title, lead, todo) = (
                "Your device certificate has expired",
                "The certificate “\(name(s))” expired on \(day(s.notAfter, context)), \(refused)",
                [
                    "Ask for a renewed certificate, install it, and restart the browser. \(askTheOperator(context, sentence: true))"
                ]
            )
        case .notYetValid(let s):
            (title, lead, todo) = (
                "Your device certificate isn't valid yet",
                "The certificate “\(name(s))” is valid from \(day(s.notBefore, context)), \(refused)",
                ["If that date looks wrong, check this device's date and time."]
            )
        case .revoked(let s):
            (title, lead, todo) = (
                "Your device certificate has been withdrawn",
                "The certificate “\(name(s))” was revoked by the operator, \(refused)",
                ["If you should still have access, ask for a new certificate: \(askTheOperator(context))"]
            )
        case .invalid(let s, let reason):
            (title, lead, todo) = (
                "Your device certificate was refused",
                "The site refused the certificate “\(name(s))” (\(reason)), \(refused)",
                ["If you should have access, \(askTheOperator(context))"]
            )
        }
        var page = HTMLExplanation(
            title: title, lead: [lead],
            sections: problem == .missing ? installSections(context) : [whatYouCanDo(todo)])
        page.facts = [("Site", context.hostName), ("Request id", context.requestID)]
        page.contact = context.contact.map { contactLink($0, title: page.title, context: context) }
        page.operatorDetails = [("Client certificate", describe(problem))]
        if let s = problem.summary {
            page.operatorDetails += [
                ("Subject", s.subject), ("Issuer", s.issuer),
                ("Valid", "\(date(s.notBefore)) to \(date(s.notAfter))"),
            ]
        }
        page.operatorDetails += [("Request", requestLine(context)), ("Request id", context.requestID)]
        return page
    }

    /// With a certificate problem, the same words as the problem page: every page is refused.
    static func whoamiHTML(
        identity: PeerIdentity, problem: ClientCertificateProblem?, tls: TLSSession?, decision: AuthorizationDecision,
        context: Context
    ) -> HTMLExplanation {
        let home =
            decision.allowed
            ? "may open this site's home page (/)."
            : "may not open this site's home page (/); other pages may still work."
        var page: HTMLExplanation
        if let problem {
            page = certificateProblemHTML(problem, context: context)
            if problem == .missing { page.title = "This browser sent no device certificate" }
            page.operatorDetails = [("Client certificate", describe(problem))]
            if let s = problem.summary { page.operatorDetails += [("Subject", s.subject), ("Issuer", s.issuer)] }
        } else if identity.verified {
            let name = deviceName(identity)
            page = HTMLExplanation(
                title: "Your device, as this site sees it",
                lead: ["This browser sent the certificate of “\(name)”. With it, you \(home)"],
                facts: [("Device name", name)]
                    + expiryFact(identity.notAfter, context)
                    + [
                        ("Home page (/)", decision.allowed ? "allowed" : "not allowed for this device"),
                        ("Request id", context.requestID),
                    ])
            if !decision.allowed {
                page.sections = [whatYouCanDo(["If this device should be allowed here, \(askTheOperator(context))"])]
            }
            page.warnings = expiryWarning(identity.notAfter, context: context).map { [$0] } ?? []
            page.operatorDetails = [
                ("Principal", identity.principal ?? "none (no spiffe:// URI SAN)"),
                ("Namespace", identity.namespace ?? "-"),
                ("Subject", identity.subject), ("Issuer", identity.issuer),
                ("SANs", (identity.uris + identity.dnsNames).joined(separator: ", ")),
                ("Expires", date(identity.notAfter)),
                ("SHA-256", identity.leafSHA256),
            ]
        } else {
            page = HTMLExplanation(
                title: "This browser sent no device certificate",
                lead: ["The site sees you as a visitor without a certificate. You \(home)"],
                facts: [
                    ("Home page (/)", decision.allowed ? "allowed" : "not allowed without a certificate"),
                    ("Request id", context.requestID),
                ],
                sections: installSections(context))
            page.operatorDetails = [("Client certificate", "none presented")]
        }
        page.contact = context.contact.map { contactLink($0, title: page.title, context: context) }
        page.operatorDetails.append(
            ("Decision for GET /", "\(decision.allowed ? "allowed" : "denied"): \(decision.reason)"))
        if let tls {
            page.operatorDetails.append(
                (
                    "TLS",
                    "\(tls.version), \(tls.cipher), SNI \(tls.serverName ?? "none")\(tls.resumed ? ", resumed" : "")"
                ))
        }
        page.operatorDetails.append(("Request id", context.requestID))
        return page
    }

    /// For a person whose browser sent no certificate: they may not have one installed, or have one the
    /// browser will not offer (expired, or from another CA: browsers filter those out before asking).
    static func installSections(_ context: Context) -> [HTMLExplanation.Section] {
        [
            HTMLExplanation.Section(
                heading: "If you were given a certificate file (.p12)",
                paragraphs: [
                    "Install it: it holds this device's certificate and key. Then restart the browser, open this page again, and choose the certificate when the browser asks."
                ]),
            HTMLExplanation.Section(
                heading: "Already installed it?",
                paragraphs: [
                    "Browsers offer only certificates that are still valid and were issued for this site, so yours may have expired or be for another site. Check its dates in the browser's certificate settings:"
                ],
                items: [
                    "Chrome, Edge: Settings → Privacy and security → Security → Manage certificates",
                    "Firefox: Settings → Privacy & Security → Certificates → View Certificates → Your Certificates",
                    "Safari on a Mac: Keychain Access → My Certificates",
                    "iPhone, iPad: Settings → General → VPN & Device Management",
                ]),
            HTMLExplanation.Section(
                heading: "Expired, or still not offered?",
                paragraphs: [
                    "If it has expired, ask for a renewed one. If you installed it while the browser was open, or said no when the browser asked for a certificate, quit and restart the browser: it remembers that answer until it restarts.",
                    "Still stuck? \(askTheOperator(context, sentence: true))",
                ]),
        ]
    }

    private static func whatYouCanDo(_ paragraphs: [String]) -> HTMLExplanation.Section {
        HTMLExplanation.Section(heading: "What you can do", paragraphs: paragraphs)
    }

    /// Who to ask, as the end of a sentence ("If you should have access, …") or a sentence of its own.
    private static func askTheOperator(_ context: Context, sentence: Bool = false) -> String {
        let text =
            context.contact == nil
            ? "send the request id above to whoever gave you this device's certificate."
            : "ask the operator of this site with the link below: it carries the request id."
        return sentence ? text.prefix(1).uppercased() + text.dropFirst() : text
    }

    /// Shown on every page that names a certificate ending within `expiryWarningSeconds`.
    static func expiryWarning(_ notAfter: Int64?, context: Context) -> String? {
        guard let notAfter, notAfter >= context.now, notAfter - context.now < expiryWarningSeconds else { return nil }
        return "This device's certificate expires on \(ReadableDate.dayAndDistance(notAfter, now: context.now)). "
            + "Ask for a renewed one before then: after that, this site will refuse this device."
    }

    /// How the plain-text page and the operator details name the client.
    static func seenAs(_ identity: PeerIdentity) -> String {
        let seen =
            identity.principal.map { "principal \($0)" }
            ?? (identity.verified ? "a certificate with no SPIFFE URI (\(identity.subject))" : "no client certificate")
        return seen + (identity.verified ? ", certificate \(identity.subject), issued by \(identity.issuer)" : "")
    }

    /// The principal when there is one, else the certificate's common name: what a person calls the device.
    static func deviceName(_ identity: PeerIdentity) -> String {
        identity.principal ?? commonName(identity.subject) ?? identity.subject
    }

    private static func name(_ summary: CertificateSummary) -> String {
        commonName(summary.subject) ?? summary.subject
    }

    /// The first `CN=` of an RFC 2253 name, with its escapes removed.
    static func commonName(_ distinguishedName: String) -> String? {
        var attributes: [String] = []
        var current = ""
        var escaped = false
        for c in distinguishedName {
            if escaped {
                current.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "," || c == "+" {
                attributes.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        attributes.append(current)
        return attributes.first { $0.hasPrefix("CN=") }.map { String($0.dropFirst(3)) }.flatMap {
            $0.isEmpty ? nil : $0
        }
    }

    private static func expiryFact(_ notAfter: Int64?, _ context: Context) -> [(String, String)] {
        notAfter.map { [("Certificate expires", ReadableDate.dayAndDistance($0, now: context.now))] } ?? []
    }

    private static func day(_ epoch: Int64?, _ context: Context) -> String {
        epoch.map { ReadableDate.dayAndDistance($0, now: context.now) } ?? "an unknown date"
    }

    private static func requestPhrase(_ context: Context) -> String {
        ["GET", "HEAD"].contains(context.method)
            ? "open \(context.path)" : "send \(context.method) requests to \(context.path)"
    }

    private static func requestLine(_ context: Context) -> String {
        "\(context.method) \(context.path) on \(context.host)"
    }
}
