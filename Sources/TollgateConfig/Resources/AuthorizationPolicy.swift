import TollgateCore

/// `security.istio.io` AuthorizationPolicy, as written; `TollgatePolicy` compiles and evaluates it.
public struct AuthorizationPolicy: Sendable, Equatable {
    public enum Action: String, Sendable {
        case allow = "ALLOW"
        case deny = "DENY"
        case audit = "AUDIT"
    }

    public var meta: ResourceMeta
    /// `selector.matchLabels`; nil when the policy has no selector.
    public var matchLabels: [String: String]?
    public var action: Action
    /// nil when `rules` is absent (an ALLOW policy with no rules allows nothing).
    public var rules: [Rule]
    public var dryRun: Bool

    public init(
        meta: ResourceMeta, matchLabels: [String: String]? = nil, action: Action, rules: [Rule], dryRun: Bool = false
    ) {
        self.meta = meta
        self.matchLabels = matchLabels
        self.action = action
        self.rules = rules
        self.dryRun = dryRun
    }

    public struct Rule: Sendable, Equatable {
        public var from: [Source]
        public var to: [Operation]
        public var when: [Condition]
        public init(from: [Source] = [], to: [Operation] = [], when: [Condition] = []) {
            self.from = from
            self.to = to
            self.when = when
        }
    }

    public struct Source: Sendable, Equatable {
        public var principals: [String]? = nil
        public var notPrincipals: [String]? = nil
        public var namespaces: [String]? = nil
        public var notNamespaces: [String]? = nil
        public var ipBlocks: [String]? = nil
        public var notIpBlocks: [String]? = nil
        public var remoteIpBlocks: [String]? = nil
        public var notRemoteIpBlocks: [String]? = nil
        public init() {}
    }

    public struct Operation: Sendable, Equatable {
        public var hosts: [String]? = nil
        public var notHosts: [String]? = nil
        public var ports: [String]? = nil
        public var notPorts: [String]? = nil
        public var methods: [String]? = nil
        public var notMethods: [String]? = nil
        public var paths: [String]? = nil
        public var notPaths: [String]? = nil
        public init() {}
    }

    public struct Condition: Sendable, Equatable {
        public var attribute: Attribute
        public var values: [String]?
        public var notValues: [String]?
        public init(attribute: Attribute, values: [String]? = nil, notValues: [String]? = nil) {
            self.attribute = attribute
            self.values = values
            self.notValues = notValues
        }

        /// The `key` as written, for messages.
        public var key: String { attribute.key }
    }

    /// The `when` keys Tollgate evaluates at the edge. A key is accepted at load only when it parses into
    /// one of these, and the matcher switches over them exhaustively: nothing is accepted that is not
    /// evaluated (a DENY rule that never fires, or a `notValues` that always holds, would fail open).
    public enum Attribute: Sendable, Equatable {
        case requestHeader(String)
        case sourceIP, remoteIP, sourceNamespace, sourcePrincipal
        /// The gateway's local address of the connection (Envoy's `destination_ip` at a gateway).
        case destinationIP
        /// The Gateway's declared port.
        case destinationPort
        case connectionSNI

        private static let plain: [(String, Attribute)] = [
            ("source.ip", .sourceIP), ("remote.ip", .remoteIP), ("source.namespace", .sourceNamespace),
            ("source.principal", .sourcePrincipal), ("destination.ip", .destinationIP),
            ("destination.port", .destinationPort),
            ("connection.sni", .connectionSNI),
        ]

        public init?(key: String) {
            if key.hasPrefix("request.headers["), key.hasSuffix("]") {
                let name = key.dropFirst("request.headers[".count).dropLast()
                guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else { return nil }
                self = .requestHeader(String(name))
                return
            }
            guard let match = Self.plain.first(where: { $0.0 == key }) else { return nil }
            self = match.1
        }

        public var key: String {
            if case .requestHeader(let name) = self { return "request.headers[\(name)]" }
            return Self.plain.first { $0.1 == self }!.0
        }

        /// Whether values are IP addresses or CIDR blocks.
        public var takesAddresses: Bool { self == .sourceIP || self == .remoteIP || self == .destinationIP }

        /// tchar (RFC 9110 §5.6.2): a header name a request can carry.
        private static func isTokenByte(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }
}

extension AuthorizationPolicy {
    static func decode(_ spec: YAMLValue, meta: ResourceMeta) throws -> AuthorizationPolicy {
        try spec.checkKeys(["selector", "action", "rules", "provider", "targetRef", "targetRefs"])
        for key in ["targetRef", "targetRefs"] {
            if let v = try spec.field(key) {
                throw v.error("\(key) selects Kubernetes Gateway API objects; use selector.matchLabels with Tollgate")
            }
        }
        var matchLabels: [String: String]?
        if let selector = try spec.field("selector") {
            try selector.checkKeys(["matchLabels"])
            matchLabels = try selector.field("matchLabels")?.stringMap() ?? [:]
        }
        var action = Action.allow
        if let a = try spec.field("action") {
            let text = try a.string()
            if text == "CUSTOM" {
                throw a.error("CUSTOM needs an external authorizer, which Tollgate does not support")
            }
            guard let parsed = Action(rawValue: text) else {
                throw a.error("unsupported value '\(text)' (expected ALLOW, DENY or AUDIT)")
            }
            action = parsed
        }
        if let p = try spec.field("provider") {
            throw p.error("provider is only used with CUSTOM, which Tollgate does not support")
        }
        let rulesValue = try spec.field("rules")
        let rules = try (rulesValue?.array() ?? []).map(Rule.decode)
        if action != .allow && rules.isEmpty {
            throw (rulesValue ?? spec).error(
                "a \(action.rawValue) policy without rules is meaningless (Istio rejects it)")
        }
        let dryRun = meta.annotations["istio.io/dry-run"] == "true"
        return AuthorizationPolicy(meta: meta, matchLabels: matchLabels, action: action, rules: rules, dryRun: dryRun)
    }
}

extension AuthorizationPolicy.Rule {
    static func decode(_ value: YAMLValue) throws -> Self {
        try value.checkKeys(["from", "to", "when"])
        func list(_ key: String) throws -> [YAMLValue] {
            guard let v = try value.field(key) else { return [] }
            let items = try v.array()
            if items.isEmpty { throw v.error("\(key) must not be an empty list") }
            return items
        }
        let from = try list("from").map { item -> AuthorizationPolicy.Source in
            try item.checkKeys(["source"])
            return try AuthorizationPolicy.Source.decode(item.requiredField("source"))
        }
        let to = try list("to").map { item -> AuthorizationPolicy.Operation in
            try item.checkKeys(["operation"])
            return try AuthorizationPolicy.Operation.decode(item.requiredField("operation"))
        }
        let when = try list("when").map(AuthorizationPolicy.Condition.decode)
        return Self(from: from, to: to, when: when)
    }
}

/// Reads a list of non-empty strings; Istio rejects empty values.
private func stringValues(_ parent: YAMLValue, _ key: String) throws -> [String]? {
    guard let v = try parent.field(key) else { return nil }
    let items = try v.strings()
    if items.contains(where: \.isEmpty) { throw v.error("empty string in \(key)") }
    return items
}

extension AuthorizationPolicy.Source {
    static func decode(_ value: YAMLValue) throws -> Self {
        try value.checkKeys([
            "principals", "notPrincipals", "namespaces", "notNamespaces", "ipBlocks", "notIpBlocks",
            "remoteIpBlocks", "notRemoteIpBlocks", "requestPrincipals", "notRequestPrincipals",
            "serviceAccounts", "notServiceAccounts",
        ])
        for jwt in ["requestPrincipals", "notRequestPrincipals"] {
            if let v = try value.field(jwt) {
                throw v.error("\(jwt) needs JWT authentication, which Tollgate does not support")
            }
        }
        for sa in ["serviceAccounts", "notServiceAccounts"] {
            if let v = try value.field(sa) { throw v.error("\(sa) is not supported; use principals") }
        }
        var s = Self()
        s.principals = try stringValues(value, "principals")
        s.notPrincipals = try stringValues(value, "notPrincipals")
        s.namespaces = try stringValues(value, "namespaces")
        s.notNamespaces = try stringValues(value, "notNamespaces")
        s.ipBlocks = try stringValues(value, "ipBlocks")
        s.notIpBlocks = try stringValues(value, "notIpBlocks")
        s.remoteIpBlocks = try stringValues(value, "remoteIpBlocks")
        s.notRemoteIpBlocks = try stringValues(value, "notRemoteIpBlocks")
        if s == Self() { throw value.error("source must set at least one field") }
        for (key, blocks) in [
            ("ipBlocks", s.ipBlocks), ("notIpBlocks", s.notIpBlocks), ("remoteIpBlocks", s.remoteIpBlocks),
            ("notRemoteIpBlocks", s.notRemoteIpBlocks),
        ] {
            for block in blocks ?? [] where CIDR(block) == nil {
                throw try value.requiredField(key).error("invalid IP or CIDR '\(block)'")
            }
        }
        return s
    }
}

extension AuthorizationPolicy.Operation {
    static func decode(_ value: YAMLValue) throws -> Self {
        try value.checkKeys(["hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"])
        var o = Self()
        o.hosts = try stringValues(value, "hosts")
        o.notHosts = try stringValues(value, "notHosts")
        o.ports = try stringValues(value, "ports")
        o.notPorts = try stringValues(value, "notPorts")
        o.methods = try stringValues(value, "methods")
        o.notMethods = try stringValues(value, "notMethods")
        o.paths = try stringValues(value, "paths")
        o.notPaths = try stringValues(value, "notPaths")
        if o == Self() { throw value.error("operation must set at least one field") }
        for (key, ports) in [("ports", o.ports), ("notPorts", o.notPorts)] {
            for port in ports ?? [] where Int(port).map({ !(0...65535).contains($0) }) ?? true {
                throw try value.requiredField(key).error("invalid port '\(port)'")
            }
        }
        return o
    }
}

extension AuthorizationPolicy.Condition {
    static func decode(_ value: YAMLValue) throws -> Self {
        try value.checkKeys(["key", "values", "notValues"])
        let keyValue = try value.requiredField("key")
        let key = try keyValue.string()
        guard let attribute = AuthorizationPolicy.Attribute(key: key) else {
            if key.hasPrefix("request.auth.") {
                throw keyValue.error("'\(key)' needs JWT authentication, which Tollgate does not support")
            }
            throw keyValue.error(
                "unknown attribute '\(key)' (Tollgate evaluates request.headers[NAME], source.ip, remote.ip, "
                    + "source.namespace, source.principal, destination.ip, destination.port, connection.sni)")
        }
        let c = Self(
            attribute: attribute, values: try stringValues(value, "values"),
            notValues: try stringValues(value, "notValues"))
        if c.values == nil && c.notValues == nil { throw value.error("a condition needs values or notValues") }
        if attribute.takesAddresses {
            for v in (c.values ?? []) + (c.notValues ?? []) where CIDR(v) == nil {
                throw value.error("invalid IP or CIDR '\(v)'")
            }
        }
        if attribute == .destinationPort {
            for v in (c.values ?? []) + (c.notValues ?? []) where Int(v).map({ !(0...65535).contains($0) }) ?? true {
                throw value.error("invalid port '\(v)'")
            }
        }
        return c
    }
}
