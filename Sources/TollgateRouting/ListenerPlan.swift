import TollgateConfig

/// The ports Tollgate listens on and the Gateway servers behind each, derived from the Gateways.
public struct ListenerPlan: Sendable, Equatable {
    public struct Server: Sendable, Equatable {
        /// `namespace/name` of the Gateway.
        public var gateway: String
        public var server: GatewayServer
        public var file: String
        /// The Gateway's `metadata.annotations` (Tollgate's opt-in features live there).
        public var annotations: [String: String] = [:]

        /// `tollgate.io/explain: "true"`: explain denials and certificate problems to the client.
        public var explain: Bool { annotations["tollgate.io/explain"] == "true" }
        /// `tollgate.io/whoami-path: /.tollgate/whoami`: answer that path with the client's identity.
        public var whoamiPath: String? {
            annotations["tollgate.io/whoami-path"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        }
        /// `tollgate.io/enroll: "true"`: serve one-time enrollment links (`tollgate certs enroll`) under
        /// `/.tollgate/enroll/` on this Gateway's HTTPS servers, to clients without a certificate too.
        public var enrollment: Bool { annotations["tollgate.io/enroll"] == "true" }
        /// `tollgate.io/contact: mailto:ops@example.com` (or an https: URL): who a refused person can ask.
        /// Validated when the configuration loads; an invalid value never gets here.
        public var contact: ContactLink? {
            annotations[ContactLink.annotation].flatMap { try? ContactLink(validating: $0) }
        }
    }

    /// The port the Gateway declares (what policies and `match.port` see).
    public var declaredPort: Int
    /// The port actually bound (after `--port-map`).
    public var listenPort: Int
    public var isTLS: Bool
    public var servers: [Server]

    /// Groups every server of every Gateway by port. `portMap` maps declared → listened port.
    public static func plan(_ model: ConfigModel, portMap: [Int: Int] = [:]) throws -> [ListenerPlan] {
        var plans: [ListenerPlan] = []
        var errors: [Diagnostic] = []
        for gateway in model.gateways {
            for server in gateway.servers {
                let entry = Server(
                    gateway: gateway.meta.qualifiedName, server: server, file: gateway.meta.file,
                    annotations: gateway.meta.annotations)
                let isTLS = server.port.portProtocol == .https
                if let i = plans.firstIndex(where: { $0.declaredPort == server.port.number }) {
                    guard plans[i].isTLS == isTLS else {
                        errors.append(
                            Diagnostic(
                                .error, file: gateway.meta.file, line: server.line, path: "spec.servers",
                                "port \(server.port.number) mixes HTTP and HTTPS servers"))
                        continue
                    }
                    for other in plans[i].servers {
                        if let overlap = server.hosts.first(where: { other.server.hosts.contains($0) }), isTLS {
                            errors.append(
                                Diagnostic(
                                    .error, file: gateway.meta.file, line: server.line, path: "spec.servers",
                                    "host \(overlap) on port \(server.port.number) is already served by \(other.gateway) (\(other.file):\(other.server.line ?? 0))"
                                ))
                        }
                    }
                    plans[i].servers.append(entry)
                } else {
                    plans.append(
                        ListenerPlan(
                            declaredPort: server.port.number,
                            listenPort: portMap[server.port.number] ?? server.port.number,
                            isTLS: isTLS, servers: [entry]))
                }
            }
        }
        if !errors.isEmpty { throw ConfigError(errors) }
        return plans
    }
}
