/// `networking.istio.io` Gateway: the ports, hosts and TLS settings Tollgate listens with.
public struct Gateway: Sendable, Equatable {
    public var meta: ResourceMeta
    public var selector: [String: String]
    public var servers: [GatewayServer]
}

public struct GatewayServer: Sendable, Equatable {
    public var port: GatewayPort
    /// Host names with any `namespace/` prefix removed, lower-cased.
    public var hosts: [String]
    /// For each host, the namespace whose VirtualServices may bind to it: `*` any (the default), `.` the
    /// Gateway's own, or a name.
    public var hostNamespaces: [String] = []
    public var tls: ServerTLSSettings?
    public var name: String?
    public var bind: String?
    public var line: Int?

    /// Whether a VirtualService in `namespace` may bind to `hosts[index]` of this server of a Gateway in `gatewayNamespace`.
    public func admits(virtualServiceNamespace namespace: String, hostIndex index: Int, gatewayNamespace: String)
        -> Bool
    {
        let allowed = index < hostNamespaces.count ? hostNamespaces[index] : "*"
        return allowed == "*" || allowed == namespace || (allowed == "." && namespace == gatewayNamespace)
    }
}

public struct GatewayPort: Sendable, Equatable {
    public enum PortProtocol: String, Sendable {
        case http = "HTTP"
        case https = "HTTPS"
    }

    public var number: Int
    public var name: String?
    public var portProtocol: PortProtocol
}

public struct ServerTLSSettings: Sendable, Equatable {
    public enum Mode: String, Sendable {
        case simple = "SIMPLE"
        case mutual = "MUTUAL"
        case optionalMutual = "OPTIONAL_MUTUAL"
    }

    public enum ProtocolVersion: String, Sendable, Comparable {
        case auto = "TLS_AUTO"
        case tls10 = "TLSV1_0"
        case tls11 = "TLSV1_1"
        case tls12 = "TLSV1_2"
        case tls13 = "TLSV1_3"

        private var rank: Int { [.auto: 0, .tls10: 1, .tls11: 2, .tls12: 3, .tls13: 4][self]! }
        public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
    }

    public var mode: Mode?
    public var httpsRedirect: Bool
    public var credentialName: String?
    public var serverCertificate: String?
    public var privateKey: String?
    public var caCertificates: String?
    public var caCrl: String?
    public var subjectAltNames: [String]
    public var verifyCertificateSpki: [String]
    public var verifyCertificateHash: [String]
    public var minProtocolVersion: ProtocolVersion?
    public var maxProtocolVersion: ProtocolVersion?
    public var cipherSuites: [String]
    /// The line of each `cipherSuites` entry, so findings about one can point at it.
    public var cipherSuiteLines: [Int?] = []
}

extension Gateway {
    static func decode(_ spec: YAMLValue, meta: ResourceMeta) throws -> Gateway {
        try spec.checkKeys(["selector", "servers"])
        let selector = try spec.field("selector")?.stringMap() ?? [:]
        let servers = try spec.requiredField("servers").array().map(GatewayServer.decode)
        guard !servers.isEmpty else { throw spec.error("a Gateway needs at least one server") }
        return Gateway(meta: meta, selector: selector, servers: servers)
    }
}

extension Gateway {
    /// Tollgate's annotations whose values reach visitors are checked here, so a bad value is a
    /// configuration error with its line rather than a page that links somewhere unexpected.
    static func checkAnnotations(_ metadata: YAMLValue?) throws {
        guard let value = try metadata?.field("annotations")?.field(ContactLink.annotation) else { return }
        do {
            _ = try ContactLink(validating: try value.string())
        } catch let invalid as ContactLink.Invalid {
            throw value.error(invalid.reason)
        }
    }
}

extension GatewayServer {
    static func decode(_ value: YAMLValue) throws -> GatewayServer {
        try value.checkKeys(["port", "hosts", "tls", "name", "bind", "defaultEndpoint"])
        if try value.field("defaultEndpoint") != nil {
            throw try value.requiredField("defaultEndpoint").error("not supported by Tollgate (sidecar only)")
        }
        let portValue = try value.requiredField("port")
        try portValue.checkKeys(["number", "name", "protocol", "targetPort"])
        let number = try portValue.requiredField("number").int()
        guard (1...65535).contains(number) else {
            throw try portValue.requiredField("number").error("port must be 1-65535")
        }
        let protocolValue = try portValue.requiredField("protocol")
        let protocolName = try protocolValue.string().uppercased()
        guard let portProtocol = GatewayPort.PortProtocol(rawValue: protocolName) else {
            throw protocolValue.error("unsupported protocol '\(protocolName)' (Tollgate serves HTTP and HTTPS)")
        }
        let hostsValue = try value.requiredField("hosts")
        var hosts: [String] = []
        var hostNamespaces: [String] = []
        for entry in try hostsValue.array() {
            let raw = try entry.string()
            guard !raw.isEmpty else { throw entry.error("empty host") }
            // `ns/host` restricts which VirtualServices may bind; the DNS part is what traffic matches.
            let parts = raw.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let dns = parts.last ?? raw
            try HostName.validatePattern(dns, at: entry)
            hosts.append(dns.lowercased())
            hostNamespaces.append(parts.count == 2 ? parts[0] : "*")
        }
        guard !hosts.isEmpty else { throw hostsValue.error("a server needs at least one host") }
        let tls = try value.field("tls").map(ServerTLSSettings.decode)
        if portProtocol == .https {
            guard let tls, tls.mode != nil else {
                throw (try value.field("tls") ?? value).error(
                    "an HTTPS server needs tls.mode SIMPLE, MUTUAL or OPTIONAL_MUTUAL (PASSTHROUGH is not supported)")
            }
            if tls.credentialName == nil && (tls.serverCertificate == nil || tls.privateKey == nil) {
                throw try value.requiredField("tls").error("needs credentialName, or serverCertificate and privateKey")
            }
        } else if let tls, tls.mode != nil {
            throw try value.requiredField("tls").error("tls.mode is only valid on an HTTPS server")
        }
        return GatewayServer(
            port: GatewayPort(number: number, name: try portValue.optionalString("name"), portProtocol: portProtocol),
            hosts: hosts, hostNamespaces: hostNamespaces, tls: tls, name: try value.optionalString("name"),
            bind: try value.optionalString("bind"), line: value.line)
    }
}

extension ServerTLSSettings {
    static func decode(_ value: YAMLValue) throws -> ServerTLSSettings {
        try value.checkKeys([
            "mode", "httpsRedirect", "credentialName", "serverCertificate", "privateKey", "caCertificates", "caCrl",
            "subjectAltNames", "verifyCertificateSpki", "verifyCertificateHash", "minProtocolVersion",
            "maxProtocolVersion", "cipherSuites", "credentialNames", "tlsCertificates", "caCertCredentialName",
        ])
        for unsupported in ["credentialNames", "tlsCertificates", "caCertCredentialName"] {
            if let v = try value.field(unsupported) { throw v.error("not supported by Tollgate yet") }
        }
        var mode: Mode?
        if let modeValue = try value.field("mode") {
            let text = try modeValue.string()
            switch text {
            case "PASSTHROUGH", "AUTO_PASSTHROUGH":
                throw modeValue.error(
                    "\(text) is not supported: Tollgate terminates TLS (use SIMPLE, MUTUAL or OPTIONAL_MUTUAL)")
            case "ISTIO_MUTUAL":
                throw modeValue.error("ISTIO_MUTUAL needs a mesh CA; use MUTUAL with caCertificates or credentialName")
            default:
                guard let m = Mode(rawValue: text) else {
                    throw modeValue.error("unsupported value '\(text)' (expected SIMPLE, MUTUAL or OPTIONAL_MUTUAL)")
                }
                mode = m
            }
        }
        func version(_ key: String) throws -> ProtocolVersion? {
            guard let v = try value.field(key) else { return nil }
            let text = try v.string()
            guard let parsed = ProtocolVersion(rawValue: text) else { throw v.error("unsupported value '\(text)'") }
            if parsed == .tls10 || parsed == .tls11 {
                throw v.error("\(text) is not allowed: Tollgate speaks TLS 1.2 and 1.3 only")
            }
            return parsed
        }
        let settings = ServerTLSSettings(
            mode: mode,
            httpsRedirect: try value.optionalBool("httpsRedirect") ?? false,
            credentialName: try value.optionalString("credentialName"),
            serverCertificate: try value.optionalString("serverCertificate"),
            privateKey: try value.optionalString("privateKey"),
            caCertificates: try value.optionalString("caCertificates"),
            caCrl: try value.optionalString("caCrl"),
            subjectAltNames: try value.stringList("subjectAltNames"),
            verifyCertificateSpki: try value.stringList("verifyCertificateSpki"),
            verifyCertificateHash: try value.stringList("verifyCertificateHash"),
            minProtocolVersion: try version("minProtocolVersion"),
            maxProtocolVersion: try version("maxProtocolVersion"),
            cipherSuites: try value.stringList("cipherSuites"),
            cipherSuiteLines: try value.field("cipherSuites")?.array().map(\.line) ?? [])
        if let m = settings.mode, m != .simple, settings.credentialName == nil, settings.caCertificates == nil {
            throw value.error("\(m.rawValue) needs caCertificates or a credentialName holding ca.crt")
        }
        if let lo = settings.minProtocolVersion, let hi = settings.maxProtocolVersion, lo != .auto, hi != .auto, lo > hi
        {
            throw value.error("minProtocolVersion is above maxProtocolVersion")
        }
        return settings
    }
}
