import TollgateConfig
import TollgateTLS

/// Warnings for Gateway `cipherSuites` entries that enable anything below Tollgate's default TLS policy
/// (static RSA, CBC, `@SECLEVEL=0`…): accepted, since an operator may need them for an old client, but
/// never silently. Each points at the entry's line and key path.
enum CipherSuiteAnalysis {
    static func findings(_ model: ConfigModel) -> [Diagnostic] {
        var out: [Diagnostic] = []
        for gateway in model.gateways {
            for (serverIndex, server) in gateway.servers.enumerated() {
                guard let tls = server.tls, !tls.cipherSuites.isEmpty else { continue }
                let found = CipherSuitePolicy.findings(
                    tls.cipherSuites, defaultSecurityLevel: CipherSuiteCatalog.defaultSecurityLevel,
                    expand: CipherSuiteCatalog.expand)
                for (index, message) in found {
                    out.append(
                        Diagnostic(
                            .warning, file: gateway.meta.file, line: tls.cipherSuiteLines[safe: index] ?? server.line,
                            path: "spec.servers[\(serverIndex)].tls.cipherSuites[\(index)]", message))
                }
            }
        }
        return out
    }
}
