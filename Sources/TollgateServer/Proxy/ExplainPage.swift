import Foundation
import TollgateCore
import TollgatePolicy
import TollgateTLS

/// The opt-in pages that tell a person who the gateway saw and why it said no: HTML for browsers,
/// plain text (or JSON for whoami) for everything else. Only built for Gateways annotated
/// `tollgate.io/explain: "true"` or `tollgate.io/whoami-path`.
enum ExplainPage {
    struct Page {
        var contentType: String
        var body: [UInt8]
    }

    static func wantsHTML(_ headers: HTTPHeaders) -> Bool {
        headers["accept"]?.contains("text/html") ?? false
    }

    /// A request denied by an AuthorizationPolicy. The text starts with Envoy's `RBAC: access denied`.
    static func denied(_ decision: AuthorizationDecision, identity: PeerIdentity, requestID: String, html: Bool) -> Page {
        let seenAs = identity.principal.map { "principal \($0)" } ?? (identity.verified ? "a certificate with no SPIFFE URI (\(identity.subject))" : "no client certificate")
        let lines = [
            ("You were seen as", seenAs + (identity.verified ? ", certificate \(identity.subject), issued by \(identity.issuer)" : "")),
            ("Decision", decision.reason),
            ("Request id", requestID),
            ("What to do", identity.verified
                ? "If you should have access, send the request id to the operator of this gateway and ask them to allow your principal."
                : "This site admits known devices only: install the certificate (.p12) you were given, then reload and choose it."),
        ]
        return render(title: "RBAC: access denied", lines: lines, html: html)
    }

    /// A client certificate that did not verify (explain mode completes such handshakes instead of failing them).
    static func certificateProblem(_ problem: ClientCertificateProblem, requestID: String, html: Bool) -> Page {
        let (title, advice): (String, String)
        switch problem {
        case .missing:
            (title, advice) = ("No client certificate", "This site admits known devices only and your browser sent no certificate. Install the .p12 file you were given (it holds your certificate and key), restart the browser, reload, and pick the certificate when asked.")
        case .untrustedIssuer(let s):
            (title, advice) = ("Certificate from an unknown issuer", "Your certificate \(s.subject) was issued by \(s.issuer), which this site does not trust. Use the certificate issued for this site.")
        case .expired(let s):
            (title, advice) = ("Certificate expired", "Your certificate \(s.subject) expired on \(date(s.notAfter)). Ask for a renewed certificate and install it.")
        case .notYetValid(let s):
            (title, advice) = ("Certificate not yet valid", "Your certificate \(s.subject) is valid from \(date(s.notBefore)). Check this device's clock.")
        case .revoked(let s):
            (title, advice) = ("Certificate revoked", "Your certificate \(s.subject) has been revoked. Ask the operator for a new one.")
        case .invalid(let s, let reason):
            (title, advice) = ("Certificate rejected", "Your certificate \(s.subject) was rejected: \(reason).")
        }
        return render(title: title, lines: [("What happened", advice), ("Request id", requestID)], html: html)
    }

    /// What the gateway knows about this client, and what the policies decide for `GET /` on this host.
    static func whoami(identity: PeerIdentity, problem: ClientCertificateProblem?, tls: TLSConnection?, decision: AuthorizationDecision,
                       requestID: String, html: Bool) -> Page {
        var certificate: [String: Any] = ["status": identity.verified ? "verified" : (problem.map(describe) ?? "none presented")]
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
            "decision": ["allowed": decision.allowed, "policy": decision.matchedPolicy ?? NSNull(), "reason": decision.reason,
                         "for": "GET / on this host"] as [String: Any],
            "requestId": requestID,
        ]
        if let tls {
            object["tls"] = ["sni": tls.serverName ?? NSNull(), "version": tls.protocolVersion, "cipher": tls.cipher,
                             "resumed": tls.sessionReused] as [String: Any]
        }
        if html {
            let lines = [
                ("Principal", identity.principal ?? "none"),
                ("Certificate", "\(certificate["status"]!)" + (certificate["subject"].map { ", \($0)" } ?? "")),
                ("Issuer", "\(certificate["issuer"] ?? "-")"),
                ("SANs", (identity.uris + identity.dnsNames).joined(separator: ", ")),
                ("Expires", "\(certificate["notAfter"] ?? "-")"),
                ("Decision for GET /", "\(decision.allowed ? "allowed" : "denied"): \(decision.reason)"),
                ("Request id", requestID),
            ]
            return render(title: "Who am I", lines: lines, html: true)
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Page(contentType: "application/json", body: Array(data) + [0x0A])
    }

    private static func describe(_ problem: ClientCertificateProblem) -> String {
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

    private static func render(title: String, lines: [(String, String)], html: Bool) -> Page {
        guard html else {
            let text = ([title, ""] + lines.map { "\($0.0): \($0.1)" }).joined(separator: "\n") + "\n"
            return Page(contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
        }
        let rows = lines.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined(separator: "\n")
        let page = """
            <!doctype html>
            <html><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#222}
            th{text-align:left;vertical-align:top;padding:.3rem 1rem .3rem 0;white-space:nowrap}td{padding:.3rem 0}</style></head>
            <body><h1>\(escape(title))</h1>
            <table>
            \(rows)
            </table>
            <p><small>Tollgate</small></p></body></html>

            """
        return Page(contentType: "text/html; charset=utf-8", body: Array(page.utf8))
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
