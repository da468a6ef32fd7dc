/// `networking.istio.io` ServiceEntry: names a destination host and where its endpoints are.
public struct ServiceEntry: Sendable, Equatable {
    public enum Resolution: String, Sendable {
        case staticAddresses = "STATIC"
        case dns = "DNS"
        case dnsRoundRobin = "DNS_ROUND_ROBIN"
    }

    public struct Port: Sendable, Equatable {
        public var number: Int
        public var name: String
        public var portProtocol: String?
        public var targetPort: Int?
    }

    public struct Endpoint: Sendable, Equatable {
        public var address: String
        /// Port name → port number overrides.
        public var ports: [String: Int]
        public var weight: Int?
    }

    public var meta: ResourceMeta
    public var hosts: [String]
    public var ports: [Port]
    public var resolution: Resolution
    public var endpoints: [Endpoint]

    /// The (address, port) pairs that serve `port` of this entry, as Istio derives them:
    /// endpoint `ports[portName]`, else the port's `targetPort`, else its `number`.
    public func endpoints(forPort requested: Int?) -> [(address: String, port: Int)]? {
        let port: Port
        if let requested {
            guard let p = ports.first(where: { $0.number == requested }) else { return nil }
            port = p
        } else {
            guard ports.count == 1, let p = ports.first else { return nil }
            port = p
        }
        let targets =
            endpoints.isEmpty && resolution != .staticAddresses
            ? hosts.filter { !$0.hasPrefix("*") }.map { Endpoint(address: $0, ports: [:], weight: nil) }
            : endpoints
        return targets.map { ($0.address, $0.ports[port.name] ?? port.targetPort ?? port.number) }
    }
}

extension ServiceEntry {
    static func decode(_ spec: YAMLValue, meta: ResourceMeta) throws -> ServiceEntry {
        try spec.checkKeys([
            "hosts", "addresses", "ports", "location", "resolution", "endpoints", "exportTo",
            "subjectAltNames", "workloadSelector",
        ])
        if let w = try spec.field("workloadSelector") {
            throw w.error("workloadSelector needs a mesh; list endpoints instead")
        }
        let hosts = try spec.requiredField("hosts").strings().map { $0.lowercased() }
        guard !hosts.isEmpty else { throw try spec.requiredField("hosts").error("needs at least one host") }
        let ports = try (spec.field("ports")?.array() ?? []).map { p -> Port in
            try p.checkKeys(["number", "name", "protocol", "targetPort"])
            return Port(
                number: try p.requiredField("number").int(), name: try p.optionalString("name") ?? "",
                portProtocol: try p.optionalString("protocol"), targetPort: try p.optionalInt("targetPort"))
        }
        var resolution = Resolution.staticAddresses
        if let r = try spec.field("resolution") {
            let text = try r.string()
            guard let parsed = Resolution(rawValue: text) else {
                throw r.error(
                    "unsupported value '\(text)' (Tollgate needs STATIC, DNS or DNS_ROUND_ROBIN to know where to connect)"
                )
            }
            resolution = parsed
        } else {
            throw spec.error(
                "missing required field 'resolution' (STATIC or DNS: Tollgate cannot pass through the original destination)"
            )
        }
        let endpoints = try (spec.field("endpoints")?.array() ?? []).map { e -> Endpoint in
            try e.checkKeys(["address", "ports", "labels", "network", "locality", "weight", "serviceAccount"])
            var ports: [String: Int] = [:]
            for (k, v) in try e.field("ports")?.mapping() ?? [] { ports[k] = try v.int() }
            return Endpoint(
                address: try e.requiredField("address").string(), ports: ports, weight: try e.optionalInt("weight"))
        }
        if resolution == .staticAddresses && endpoints.isEmpty {
            throw spec.error("resolution STATIC needs endpoints")
        }
        return ServiceEntry(meta: meta, hosts: hosts, ports: ports, resolution: resolution, endpoints: endpoints)
    }
}
