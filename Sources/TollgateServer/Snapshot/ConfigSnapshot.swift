import Foundation
import TollgateConfig
import TollgatePlanner
import TollgatePolicy
import TollgateRouting
import TollgateTLS

/// One listening port at one configuration: its server blocks, their TLS contexts and route tables.
public struct ListenerRuntime: Sendable {
    public var plan: ListenerPlan
    /// nil for plain HTTP.
    public var tls: TLSServerGroup?
    /// One table per TLS server block (index = SNI choice), or one for a plain-HTTP port.
    public var routeTables: [RouteTable]
    /// URI SANs of each server block's certificate (XFCC `By`).
    public var gatewayURIs: [[String]]

    public func routeTable(serverIndex: Int) -> RouteTable {
        routeTables[min(serverIndex, routeTables.count - 1)]
    }

    /// The Gateway server block SNI chose (the first one on a plain-HTTP port).
    public func server(_ serverIndex: Int) -> ListenerPlan.Server {
        plan.servers[min(serverIndex, plan.servers.count - 1)]
    }
}

/// Everything the request path reads, built and validated whole off the loops, then swapped in
/// atomically. Immutable: connections hold the one they started a request with.
public final class ConfigSnapshot: Sendable {
    public let generation: Int
    public let model: ConfigModel
    public let listeners: [Int: ListenerRuntime]
    public let upstreams: UpstreamCatalog
    public let authorization: AuthorizationEngine
    /// Per port, what the planner reads of each server block (`ListenerRuntime.server`/`routeTable` indices).
    let listenerContexts: [Int: [ListenerContext]]
    let destinationWarnings: [Diagnostic]

    /// The planner's view of the server block `serverIndex` of the port listening on `port`; nil when the port
    /// is not in this configuration.
    func listenerContext(port: Int, serverIndex: Int) -> ListenerContext? {
        guard let contexts = listenerContexts[port], !contexts.isEmpty else { return nil }
        return contexts[min(max(serverIndex, 0), contexts.count - 1)]
    }

    /// What is worth a warning at start and on reload: destinations without endpoints, policies that do not apply,
    /// cipher suites below the default policy.
    public var warnings: [String] {
        (destinationWarnings + CipherSuiteAnalysis.findings(model)).map(\.description)
            + authorization.skipped.map { "AuthorizationPolicy \($0.name) does not apply: \($0.reason)" }
    }

    /// SHA-256 over the configuration files and the certificates, CAs and CRLs they serve with: equal on
    /// replicas that run the same configuration, whatever their reload counts (`/healthz/ready`).
    public let digest: String

    static func digest(sources: [(name: String, text: String)], listeners: [Int: ListenerRuntime]) -> String {
        let sha = SHA256Digest()
        // File names without their folder: replicas mount the same files at different places.
        for source in sources {
            sha.update(Array((source.name as NSString).lastPathComponent.utf8) + [0] + Array(source.text.utf8) + [0])
        }
        for listener in listeners.values.sorted(by: { $0.plan.declaredPort < $1.plan.declaredPort }) {
            sha.update(Array("port \(listener.plan.declaredPort)".utf8) + [0])
            for entry in listener.tls?.entries ?? [] {
                let settings = entry.context.settings
                for part in [settings.certificateChainPEM, settings.clientCAPEM ?? [], settings.crlPEM ?? []] {
                    sha.update(part + [0])
                }
            }
        }
        return sha.finalizeHex()
    }

    init(
        generation: Int, model: ConfigModel, listeners: [Int: ListenerRuntime], upstreams: UpstreamCatalog,
        authorization: AuthorizationEngine, destinationWarnings: [Diagnostic], digest: String
    ) {
        self.digest = digest
        self.generation = generation
        self.model = model
        self.listeners = listeners
        self.upstreams = upstreams
        self.authorization = authorization
        self.destinationWarnings = destinationWarnings
        listenerContexts = listeners.mapValues { listener in
            (0..<max(listener.plan.servers.count, listener.routeTables.count, 1)).map { index in
                ListenerContext(
                    routeTable: listener.routeTable(serverIndex: index), server: listener.server(index),
                    declaredPort: listener.plan.declaredPort, authorization: authorization)
            }
        }
    }

    /// The same configuration with freshly resolved upstream endpoints.
    func replacingUpstreams(_ upstreams: UpstreamCatalog) -> ConfigSnapshot {
        ConfigSnapshot(
            generation: generation, model: model, listeners: listeners, upstreams: upstreams,
            authorization: authorization,
            destinationWarnings: destinationWarnings, digest: digest)
    }

    /// Everything `tollgate validate` reports about a configuration that loaded: skipped kinds, references
    /// and routes (`ConfigAnalysis`), certificates, destinations that do not resolve, policies that do not apply.
    public func analysis() -> [Diagnostic] {
        var out =
            model.notices + ConfigAnalysis.findings(model) + CredentialAnalysis.findings(self)
            + CipherSuiteAnalysis.findings(model)
        out += destinationWarnings
        out += authorization.skipped.map { skipped in
            let meta = model.authorizationPolicies.first { $0.meta.qualifiedName == skipped.name }?.meta
            return Diagnostic(
                .notice, file: meta?.file ?? "-", line: meta?.line, path: "",
                "AuthorizationPolicy \(skipped.name) does not apply: \(skipped.reason)")
        }
        return out
    }

    /// Loads the files, reads the credentials, builds TLS contexts, route tables, policies and
    /// upstream clusters. Blocks (files, DNS): never call it on an event loop.
    public static func build(_ settings: GatewaySettings, generation: Int) throws -> ConfigSnapshot {
        let sources = try ConfigFiles.read(settings.configPaths)
        let model = try ConfigLoader.load(sources)
        let plans = try ListenerPlan.plan(model, portMap: settings.portMap)
        let base = baseDirectory(settings)
        let credentials = CredentialStore(
            directory: settings.credentialsDirectory ?? defaultCredentialsDirectory(settings),
            secrets: model.secrets)
        var listeners: [Int: ListenerRuntime] = [:]
        var errors: [Diagnostic] = []
        for plan in plans {
            if plan.isTLS {
                var entries: [TLSServerGroup.Entry] = []
                var uris: [[String]] = []
                for server in plan.servers {
                    do {
                        let context = try tlsContext(
                            server, credentials: credentials, base: base, offersHTTP2: settings.offersHTTP2)
                        entries.append(TLSServerGroup.Entry(hosts: server.server.hosts, context: context))
                        uris.append(
                            context.certificateSummary.subjectAltNames.compactMap {
                                if case .uniformResourceIdentifier(let u) = $0 { u } else { nil }
                            })
                    } catch {
                        errors.append(
                            Diagnostic(
                                .error, file: server.file, line: server.server.line, path: "spec.servers.tls",
                                "\(error)"))
                    }
                }
                guard entries.count == plan.servers.count else { continue }
                do {
                    let group = try TLSServerGroup(entries)
                    let tables = plan.servers.indices.map { block in
                        RouteTable(servers: [plan.servers[block]], portBlocks: (group.selector, block), model: model)
                    }
                    listeners[plan.listenPort] = ListenerRuntime(
                        plan: plan, tls: group, routeTables: tables, gatewayURIs: uris)
                } catch {
                    errors.append(
                        Diagnostic(
                            .error, file: plan.servers[0].file, line: plan.servers[0].server.line,
                            path: "spec.servers.tls",
                            "\(error)"))
                }
            } else {
                listeners[plan.listenPort] = ListenerRuntime(
                    plan: plan, tls: nil, routeTables: [RouteTable(servers: plan.servers, model: model)],
                    gatewayURIs: [[]])
            }
        }
        if !errors.isEmpty { throw ConfigError(errors) }
        let (upstreams, warnings) = UpstreamCatalog.build(model: model, services: settings.services)
        let authorization = AuthorizationEngine(
            policies: model.authorizationPolicies, labels: settings.labels,
            namespace: settings.namespace, rootNamespace: settings.rootNamespace)
        return ConfigSnapshot(
            generation: generation, model: model, listeners: listeners, upstreams: upstreams,
            authorization: authorization, destinationWarnings: warnings,
            digest: digest(sources: sources, listeners: listeners))
    }

    /// The folder relative paths in the configuration are resolved against: the first config folder.
    static func baseDirectory(_ settings: GatewaySettings) -> String {
        settings.configPaths.first.map { path -> String in
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            return isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent
        } ?? "."
    }

    /// `credentials/` beside the configuration.
    static func defaultCredentialsDirectory(_ settings: GatewaySettings) -> String {
        (baseDirectory(settings) as NSString).appendingPathComponent("credentials")
    }

    static func tlsContext(
        _ server: ListenerPlan.Server, credentials: CredentialStore, base: String, offersHTTP2: Bool = true
    ) throws -> TLSServerContext {
        guard let tls = server.server.tls, let mode = tls.mode else {
            throw CredentialError("HTTPS server without tls.mode")
        }
        let credential: Credential
        if let name = tls.credentialName {
            credential = try credentials.credential(named: name)
        } else {
            credential = try CredentialStore.files(
                certificate: tls.serverCertificate ?? "", key: tls.privateKey ?? "",
                ca: tls.caCertificates, crl: tls.caCrl, relativeTo: base)
        }
        var clientCA = credential.caCertificates
        var crl = credential.crl
        // File-mode fields override what a credential carries, as in Istio's file mode.
        if tls.credentialName != nil {
            if let path = tls.caCertificates { clientCA = try CredentialStore.readFile(path, relativeTo: base) }
            if let path = tls.caCrl { crl = try CredentialStore.readFile(path, relativeTo: base) }
        }
        let authentication: TLSServerSettings.ClientAuthentication
        switch mode {
        case .simple: authentication = .none
        case .mutual: authentication = .required
        case .optionalMutual: authentication = .optional
        }
        if authentication != .none && clientCA == nil {
            throw CredentialError(
                "\(mode.rawValue) needs a client CA: \(credential.source) has no ca.crt and no caCertificates is set")
        }
        func version(_ v: ServerTLSSettings.ProtocolVersion?, default d: TLSServerSettings.ProtocolVersion)
            -> TLSServerSettings.ProtocolVersion
        {
            switch v {
            case .tls13?: .tls13
            case .tls12?: .tls12
            default: d
            }
        }
        do {
            var settings = TLSServerSettings(
                certificateChainPEM: credential.certificateChain, privateKeyPEM: credential.privateKey,
                clientCAPEM: authentication == .none ? nil : clientCA, crlPEM: authentication == .none ? nil : crl,
                clientAuthentication: authentication, minVersion: version(tls.minProtocolVersion, default: .tls12),
                maxVersion: version(tls.maxProtocolVersion, default: .tls13), cipherSuites: tls.cipherSuites,
                explainFailures: server.explain)
            settings.subjectAltNames = tls.subjectAltNames
            settings.admitsClientsWithoutCertificate = server.enrollment && authentication == .required
            settings.spkiPins = tls.verifyCertificateSpki
            settings.certificateHashes = tls.verifyCertificateHash
            settings.offersHTTP2 = offersHTTP2
            return try TLSServerContext(settings)
        } catch {
            throw CredentialError("\(credential.source): \(error)")
        }
    }
}
