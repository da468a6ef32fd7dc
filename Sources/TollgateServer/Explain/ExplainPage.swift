import Foundation
import TollgateConfig
import TollgateCore
import TollgatePolicy
import TollgateRouting
import TollgateTLS

/// The opt-in pages that tell a person who the gateway saw and why it said no: HTML in plain words for
/// browsers (see `ExplainPage+HTML.swift`), and for everything else the plain text (or JSON for whoami)
/// that scripts and `curl` users read, whose first line stays Envoy's. Only built for Gateways annotated
/// `tollgate.io/explain: "true"` or `tollgate.io/whoami-path`. Pure: the clock is passed in `Context`.
enum ExplainPage {
    struct Page {
        var contentType: String
        var body: [UInt8]
    }

    /// What every page needs to know about the request it answers.
    struct Context {
        var requestID: String
        var html: Bool
        /// `tollgate.io/contact`, offered with the request id.
        var contact: ContactLink?
        /// Seconds since 1970, for "expires in 5 days".
        var now: Int64
        var method: String
        /// The request's authority (`gw.test:8443`).
        var host: String
        /// The normalized path.
        var path: String

        var hostName: String { HostName.stripPort(host) }
    }

    /// The TLS session facts whoami reports, taken from the connection once.
    struct TLSSession {
        var serverName: String?
        var version: String
        var cipher: String
        var resumed: Bool
    }

    static func wantsHTML(_ headers: HTTPHeaders) -> Bool {
        headers["accept"]?.contains("text/html") ?? false
    }

    /// Certificates this close to their end get a warning on every page that shows them.
    static let expiryWarningSeconds: Int64 = 14 * ReadableDate.day

    /// A request denied by an AuthorizationPolicy. The text starts with Envoy's `RBAC: access denied`.
    static func denied(_ decision: AuthorizationDecision, identity: PeerIdentity, context: Context) -> Page {
        if context.html { return htmlPage(deniedHTML(decision, identity: identity, context: context)) }
        let lines = [
            ("You were seen as", seenAs(identity)),
            ("Decision", decision.reason),
            ("Request id", context.requestID),
            (
                "What to do",
                identity.verified
                    ? "If you should have access, send the request id to the operator of this gateway and ask them to allow your principal."
                    : "This site admits known devices only: install the certificate (.p12) you were given, then reload and choose it."
            ),
        ]
        return text(title: "RBAC: access denied", lines: lines, context: context)
    }

    /// A client certificate that did not verify (explain mode completes such handshakes instead of failing them).
    static func certificateProblem(_ problem: ClientCertificateProblem, context: Context) -> Page {
        if context.html { return htmlPage(certificateProblemHTML(problem, context: context)) }
        let (title, advice): (String, String)
        switch problem {
        case .missing:
            (title, advice) = (
                "No client certificate",
                "This site admits known devices only and your browser sent no certificate. Install the .p12 file you were given (it holds your certificate and key), restart the browser, reload, and pick the certificate when asked."
            )
        case .untrustedIssuer(let s):
            (title, advice) = (
                "Certificate from an unknown issuer",
                "Your certificate \(s.subject) was issued by \(s.issuer), which this site does not trust. Use the certificate issued for this site."
            )
        case .expired(let s):
            (title, advice) = (
                "Certificate expired",
                "Your certificate \(s.subject) expired on \(date(s.notAfter)). Ask for a renewed certificate and install it."
            )
        case .notYetValid(let s):
            (title, advice) = (
                "Certificate not yet valid",
                "Your certificate \(s.subject) is valid from \(date(s.notBefore)). Check this device's clock."
            )
        case .revoked(let s):
            (title, advice) = (
                "Certificate revoked", "Your certificate \(s.subject) has been revoked. Ask the operator for a new one."
            )
        case .invalid(let s, let reason):
            (title, advice) = ("Certificate rejected", "Your certificate \(s.subject) was rejected: \(reason).")
        }
        return text(
            title: title, lines: [("What happened", advice), ("Request id", context.requestID)], context: context)
    }

    static func whoami(
        identity: PeerIdentity, problem: ClientCertificateProblem?, tls: TLSConnection?,
        decision: AuthorizationDecision,
        context: Context
    ) -> Page {
        let session = tls.map {
            TLSSession(
                serverName: $0.serverName, version: $0.protocolVersion, cipher: $0.cipher, resumed: $0.sessionReused)
        }
        return whoami(identity: identity, problem: problem, tls: session, decision: decision, context: context)
    }

    /// What the gateway knows about this client, and what the policies decide for `GET /` on this host.
    /// With a certificate problem every request on the connection is refused, whatever the policies say.
    static func whoami(
        identity: PeerIdentity, problem: ClientCertificateProblem?, tls: TLSSession?, decision: AuthorizationDecision,
        context: Context
    ) -> Page {
        let decision = problem.map { refusedForCertificate($0) } ?? decision
        if context.html {
            return htmlPage(
                whoamiHTML(identity: identity, problem: problem, tls: tls, decision: decision, context: context))
        }
        var certificate: [String: Any] = [
            "status": identity.verified ? "verified" : (problem.map(describe) ?? "none presented")
        ]
        if identity.verified {
            certificate["subject"] = identity.subject
            certificate["issuer"] = identity.issuer
            certificate["uris"] = identity.uris
            certificate["dnsNames"] = identity.dnsNames
            certificate["notAfter"] = date(identity.notAfter)
            certificate["sha256"] = identity.leafSHA256
        } else if let summary = problem?.summary {
            certificate["subject"] = summary.subject
            certificate["issuer"] = summary.issuer
            certificate["notAfter"] = date(summary.notAfter)
        }
        var object: [String: Any] = [
            "principal": identity.principal ?? NSNull(),
            "namespace": identity.namespace ?? NSNull(),
            "certificate": certificate,
            "decision": [
                "allowed": decision.allowed, "policy": decision.matchedPolicy ?? NSNull(), "reason": decision.reason,
                "for": "GET / on this host",
            ] as [String: Any],
            "requestId": context.requestID,
        ]
        if let tls {
            object["tls"] =
                [
                    "sni": tls.serverName ?? NSNull(), "version": tls.version, "cipher": tls.cipher,
                    "resumed": tls.resumed,
                ] as [String: Any]
        }
        if let contact = context.contact { object["contact"] = contact.url }
        if identity.verified, let warning = expiryWarning(identity.notAfter, context: context) {
            object["warning"] = warning
        }
        let data =
            (try? JSONSerialization.data(
                withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Page(contentType: "application/json", body: Array(data) + [0x0A])
    }

    /// The decision every request gets on a connection whose client certificate failed.
    static func refusedForCertificate(_ problem: ClientCertificateProblem) -> AuthorizationDecision {
        AuthorizationDecision(
            allowed: false, matchedPolicy: nil,
            reason: "every request is refused: client certificate \(describe(problem))", audited: [], dryRunDenied: [])
    }

    static func describe(_ problem: ClientCertificateProblem) -> String {
        switch problem {
        case .missing: "none presented"
        case .untrustedIssuer: "untrusted issuer"
        case .expired: "expired"
        case .notYetValid: "not yet valid"
        case .revoked: "revoked"
        case .invalid(_, let reason): reason
        }
    }

    static func date(_ epoch: Int64?) -> String {
        guard let epoch else { return "-" }
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(epoch)))
    }

    /// The contact link carrying the request id, with a prefilled message naming the page and what it said.
    static func contactLink(_ contact: ContactLink, title: String, context: Context) -> HTMLExplanation.Link {
        let body = """
            Request id: \(context.requestID)
            Page: \(context.method) \(context.host)\(context.path)
            It said: \(title)


            """
        let href = contact.link(
            requestID: context.requestID, subject: "Request \(context.requestID) on \(context.hostName)", body: body)
        let text =
            contact.kind == .email
            ? "Email the operator (the request id is filled in)" : "Contact the operator (the request id is passed on)"
        return HTMLExplanation.Link(href: href, text: text)
    }

    private static func htmlPage(_ page: HTMLExplanation) -> Page {
        Page(contentType: "text/html; charset=utf-8", body: Array(page.render().utf8))
    }

    /// `Title`, a blank line, then `Label: value` lines — what `curl` users and scripts read.
    private static func text(title: String, lines: [(String, String)], context: Context) -> Page {
        var lines = lines
        if let contact = context.contact { lines.append(("Contact", contact.url)) }
        let text = ([title, ""] + lines.map { "\($0.0): \($0.1)" }).joined(separator: "\n") + "\n"
        return Page(contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }
}

extension ExplainPage.Context {
    /// The context of a request the gateway answers itself, on the Gateway server `server`, at this moment.
    init(
        requestID: String, head: RequestHead, path: String, server: ListenerPlan.Server,
        now: Int64 = Clock.epochSeconds()
    ) {
        self.init(
            requestID: requestID, html: ExplainPage.wantsHTML(head.headers), contact: server.contact, now: now,
            method: head.method, host: head.authority ?? "", path: path)
    }
}
