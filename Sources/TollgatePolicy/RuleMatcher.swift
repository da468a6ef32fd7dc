import TollgateConfig
import TollgateCore

/// One rule compiled when the snapshot is built — CIDRs parsed, value, principal, namespace and path
/// matchers made — so a request only compares. Istio's semantics: any `from` AND any `to` AND every
/// `when`; inside a source or operation every set field must hold; values of one field are OR-ed; `notX`
/// holds when none match.
struct RuleMatcher: Sendable {
    private let from: [SourceMatcher]
    private let to: [OperationMatcher]
    private let when: [ConditionMatcher]

    init(_ rule: AuthorizationPolicy.Rule) {
        from = rule.from.map(SourceMatcher.init)
        to = rule.to.map(OperationMatcher.init)
        when = rule.when.map(ConditionMatcher.init)
    }

    func matches(_ r: RequestAttributes) -> Bool {
        (from.isEmpty || from.contains { $0.matches(r) })
            && (to.isEmpty || to.contains { $0.matches(r) })
            && when.allSatisfy { $0.matches(r) }
    }

    /// The strings Envoy tests principals against at a gateway: URI SANs, then DNS SANs, then the
    /// subject, less any that carry bytes no identity has. Empty without a verified certificate, so
    /// positive matches fail and negative ones pass.
    static func identityStrings(_ identity: PeerIdentity) -> [String] {
        identity.verified ? identity.matchableNames : []
    }

    /// An unparsable block (refused at load anyway) matches nothing.
    static func ipMatches(_ block: CIDR?, _ address: IPAddress?) -> Bool {
        guard let address, let block else { return false }
        return block.contains(address)
    }
}

/// One field's compiled values: an absent field holds; present, any value must match (`x`) or none may (`notX`).
struct FieldMatcher<Value: Sendable>: Sendable {
    private let values: [Value]?

    init(_ texts: [String]?, _ compile: (String) -> Value) { values = texts?.map(compile) }

    func any(_ test: (Value) -> Bool) -> Bool { values.map { $0.contains(where: test) } ?? true }
    func none(_ test: (Value) -> Bool) -> Bool { values.map { !$0.contains(where: test) } ?? true }
}

struct SourceMatcher: Sendable {
    private let principals, notPrincipals: FieldMatcher<PrincipalMatcher>
    private let namespaces, notNamespaces: FieldMatcher<NamespaceMatcher>
    private let ipBlocks, notIpBlocks, remoteIpBlocks, notRemoteIpBlocks: FieldMatcher<CIDR?>

    init(_ s: AuthorizationPolicy.Source) {
        principals = FieldMatcher(s.principals, PrincipalMatcher.init)
        notPrincipals = FieldMatcher(s.notPrincipals, PrincipalMatcher.init)
        namespaces = FieldMatcher(s.namespaces, NamespaceMatcher.init)
        notNamespaces = FieldMatcher(s.notNamespaces, NamespaceMatcher.init)
        ipBlocks = FieldMatcher(s.ipBlocks, CIDR.init)
        notIpBlocks = FieldMatcher(s.notIpBlocks, CIDR.init)
        remoteIpBlocks = FieldMatcher(s.remoteIpBlocks, CIDR.init)
        notRemoteIpBlocks = FieldMatcher(s.notRemoteIpBlocks, CIDR.init)
    }

    func matches(_ r: RequestAttributes) -> Bool {
        let names = RuleMatcher.identityStrings(r.identity)
        func principal(_ m: PrincipalMatcher) -> Bool { names.contains { m.matches($0) } }
        func namespace(_ m: NamespaceMatcher) -> Bool { names.contains { m.matches($0) } }
        return principals.any(principal) && notPrincipals.none(principal)
            && namespaces.any(namespace) && notNamespaces.none(namespace)
            && ipBlocks.any { RuleMatcher.ipMatches($0, r.sourceIP) }
            && notIpBlocks.none { RuleMatcher.ipMatches($0, r.sourceIP) }
            && remoteIpBlocks.any { RuleMatcher.ipMatches($0, r.remoteIP) }
            && notRemoteIpBlocks.none { RuleMatcher.ipMatches($0, r.remoteIP) }
    }
}

struct OperationMatcher: Sendable {
    private let hosts, notHosts, methods, notMethods: FieldMatcher<ValueMatcher>
    private let ports, notPorts: FieldMatcher<String>
    private let paths, notPaths: FieldMatcher<PathMatcher>

    init(_ o: AuthorizationPolicy.Operation) {
        hosts = FieldMatcher(o.hosts) { ValueMatcher($0, ignoreCase: true) }
        notHosts = FieldMatcher(o.notHosts) { ValueMatcher($0, ignoreCase: true) }
        ports = FieldMatcher(o.ports) { $0 }
        notPorts = FieldMatcher(o.notPorts) { $0 }
        methods = FieldMatcher(o.methods) { ValueMatcher($0) }
        notMethods = FieldMatcher(o.notMethods) { ValueMatcher($0) }
        paths = FieldMatcher(o.paths, PathMatcher.init)
        notPaths = FieldMatcher(o.notPaths, PathMatcher.init)
    }

    func matches(_ r: RequestAttributes) -> Bool {
        let port = String(r.destinationPort)
        return hosts.any { $0.matches(r.host) } && notHosts.none { $0.matches(r.host) }
            && ports.any { $0 == port } && notPorts.none { $0 == port }
            && methods.any { $0.matches(r.method) } && notMethods.none { $0.matches(r.method) }
            && paths.any { $0.matches(r.path) } && notPaths.none { $0.matches(r.path) }
    }
}

/// A `when` condition with its values compiled for its key.
struct ConditionMatcher: Sendable {
    enum Value: Sendable {
        case block(CIDR?)
        case principal(PrincipalMatcher)
        case text(ValueMatcher)
        case port(String)
    }

    private let attribute: AuthorizationPolicy.Attribute
    private let values, notValues: FieldMatcher<Value>

    init(_ c: AuthorizationPolicy.Condition) {
        attribute = c.attribute
        let compile: (String) -> Value
        switch c.attribute {
        case .sourceIP, .remoteIP, .destinationIP: compile = { .block(CIDR($0)) }
        case .sourcePrincipal: compile = { .principal(PrincipalMatcher(value: $0)) }
        case .sourceNamespace, .connectionSNI, .requestHeader: compile = { .text(ValueMatcher($0)) }
        case .destinationPort: compile = { .port($0) }
        }
        values = FieldMatcher(c.values, compile)
        notValues = FieldMatcher(c.notValues, compile)
    }

    func matches(_ r: RequestAttributes) -> Bool {
        let test: (Value) -> Bool
        switch attribute {
        case .sourceIP: test = { Self.ip($0, r.sourceIP) }
        case .remoteIP: test = { Self.ip($0, r.remoteIP) }
        case .destinationIP: test = { Self.ip($0, r.destinationIP) }
        case .sourcePrincipal:
            let names = RuleMatcher.identityStrings(r.identity)
            test = { value in
                guard case .principal(let m) = value else { return false }
                return names.contains { m.matches($0) }
            }
        case .sourceNamespace: test = { Self.text($0, r.identity.namespace) }
        case .destinationPort:
            let port = String(r.destinationPort)
            test = { value in
                guard case .port(let p) = value else { return false }
                return p == port
            }
        case .connectionSNI: test = { Self.text($0, r.serverName) }
        case .requestHeader(let name):
            let header = r.headers.combined(name)
            test = { Self.text($0, header) }
        }
        return values.any(test) && notValues.none(test)
    }

    private static func ip(_ value: Value, _ address: IPAddress?) -> Bool {
        guard case .block(let block) = value else { return false }
        return RuleMatcher.ipMatches(block, address)
    }

    private static func text(_ value: Value, _ candidate: String?) -> Bool {
        guard case .text(let m) = value, let candidate else { return false }
        return m.matches(candidate)
    }
}
