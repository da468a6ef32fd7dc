import TollgateConfig

/// Cross-resource checks that need no I/O, in the spirit of `istioctl analyze`: references that point
/// nowhere, VirtualServices that bind to nothing, routes that can never be chosen.
public enum ConfigAnalysis {
    public static func findings(_ model: ConfigModel) -> [Diagnostic] {
        var out: [Diagnostic] = []
        for vs in model.virtualServices {
            func note(_ severity: Diagnostic.Severity, _ path: String, _ message: String, line: Int? = nil) {
                out.append(Diagnostic(severity, file: vs.meta.file, line: line ?? vs.meta.line, path: path, message))
            }
            let gatewayRefs = vs.gateways.filter { $0 != "mesh" }
            if vs.gateways.isEmpty {
                note(
                    .warning, "spec.gateways",
                    "VirtualService \(vs.meta.qualifiedName) lists no gateway, so (as in Istio) it applies to the mesh only and Tollgate never uses it"
                )
            }
            for ref in gatewayRefs {
                guard let gateway = model.gateway(ref) else {
                    note(
                        .error, "spec.gateways",
                        "gateway \(ref) does not exist (known: \(model.gateways.map(\.meta.qualifiedName).joined(separator: ", ")))"
                    )
                    continue
                }
                let serverHosts = gateway.servers.flatMap(\.hosts)
                let bound = vs.hosts.filter { h in serverHosts.contains { HostName.intersects(h, $0) } }
                if bound.isEmpty {
                    note(
                        .warning, "spec.hosts",
                        "none of \(vs.hosts.joined(separator: ", ")) is served by gateway \(ref) (\(serverHosts.joined(separator: ", ")))"
                    )
                }
            }
            for (i, route) in vs.http.enumerated() {
                let matches = route.match.isEmpty ? [HTTPMatchRequest()] : route.match
                for (j, earlier) in vs.http.prefix(i).enumerated() {
                    let earlierMatches = earlier.match.isEmpty ? [HTTPMatchRequest()] : earlier.match
                    let catchAllShadow =
                        matches.allSatisfy(\.isCatchAll) && earlierMatches.contains(where: \.isCatchAll)
                    let duplicate = matches.allSatisfy { m in earlierMatches.contains(m) }
                    if catchAllShadow || duplicate {
                        note(
                            .warning, "spec.http[\(i)]",
                            "route \(route.name ?? String(i)) can never be chosen: route \(earlier.name ?? String(j)) matches every request it matches",
                            line: route.line)
                        break
                    }
                }
            }
        }
        for gateway in model.gateways {
            let bound = model.virtualServices.contains { $0.gateways.contains(gateway.meta.qualifiedName) }
            if !bound {
                out.append(
                    Diagnostic(
                        .warning, file: gateway.meta.file, line: gateway.meta.line, path: "",
                        "no VirtualService lists gateway \(gateway.meta.qualifiedName): every request to it gets 404"))
            }
        }
        return out
    }
}
