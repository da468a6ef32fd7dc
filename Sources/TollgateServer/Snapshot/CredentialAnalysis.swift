import Foundation
import TollgateConfig
import TollgateTLS

/// Checks of the certificates a snapshot serves: expiry and whether they cover the Gateway's hosts.
enum CredentialAnalysis {
    static func findings(_ snapshot: ConfigSnapshot, now: Date = Date()) -> [Diagnostic] {
        var out: [Diagnostic] = []
        for listener in snapshot.listeners.values {
            guard let group = listener.tls else { continue }
            for (server, entry) in zip(listener.plan.servers, group.entries) {
                let summary = entry.context.certificateSummary
                func note(_ severity: Diagnostic.Severity, _ message: String) {
                    out.append(
                        Diagnostic(
                            severity, file: server.file, line: server.server.line, path: "spec.servers.tls", message))
                }
                if let notAfter = summary.notAfter {
                    let remaining = TimeInterval(notAfter) - now.timeIntervalSince1970
                    if remaining < 0 {
                        note(
                            .error, "the server certificate \(summary.subject) expired on \(ExplainPage.date(notAfter))"
                        )
                    } else if remaining < 15 * 86_400 {
                        note(
                            .warning,
                            "the server certificate \(summary.subject) expires on \(ExplainPage.date(notAfter)), in \(Int(remaining / 86_400)) days"
                        )
                    }
                }
                for host in server.server.hosts where host != "*" {
                    let probe = host.hasPrefix("*.") ? "x" + host.dropFirst(1) : host
                    if !summary.covers(host: probe) {
                        note(
                            .warning,
                            "the server certificate (\(summary.subject)) does not cover host \(host): browsers will refuse it"
                        )
                    }
                }
            }
        }
        return out
    }
}
