import TollgateConfig
import TollgateCore

/// Rule semantics (Istio `Rule`): any `from` AND any `to` AND every `when`; inside a source or
/// operation every set field must hold; values of one field are OR-ed; `notX` holds when none match.
enum RuleMatcher {
    static func matches(_ rule: AuthorizationPolicy.Rule, _ r: RequestAttributes) -> Bool {
        (rule.from.isEmpty || rule.from.contains { source($0, r) })
            && (rule.to.isEmpty || rule.to.contains { operation($0, r) })
            && rule.when.allSatisfy { condition($0, r) }
    }

    /// A field holds when absent, or when any listed value matches.
    private static func field(_ values: [String]?, _ test: (String) -> Bool) -> Bool {
        guard let values else { return true }
        return values.contains(where: test)
    }

    private static func notField(_ values: [String]?, _ test: (String) -> Bool) -> Bool {
        guard let values else { return true }
        return !values.contains(where: test)
    }

    /// The strings Envoy tests principals against at a gateway: URI SANs, then DNS SANs, then the
    /// subject, less any that carry bytes no identity has. Empty without a verified certificate, so
    /// positive matches fail and negative ones pass.
    static func identityStrings(_ identity: PeerIdentity) -> [String] {
        identity.verified ? identity.matchableNames : []
    }

    static func principalMatches(_ value: String, _ identity: PeerIdentity) -> Bool {
        let matcher = PrincipalMatcher(value: value)
        return identityStrings(identity).contains { matcher.matches($0) }
    }

    static func namespaceMatches(_ value: String, _ identity: PeerIdentity) -> Bool {
        let matcher = NamespaceMatcher(value)
        return identityStrings(identity).contains { matcher.matches($0) }
    }

    static func ipMatches(_ block: String, _ address: IPAddress?) -> Bool {
        guard let address, let cidr = CIDR(block) else { return false }
        return cidr.contains(address)
    }

    static func source(_ s: AuthorizationPolicy.Source, _ r: RequestAttributes) -> Bool {
        field(s.principals) { principalMatches($0, r.identity) }
            && notField(s.notPrincipals) { principalMatches($0, r.identity) }
            && field(s.namespaces) { namespaceMatches($0, r.identity) }
            && notField(s.notNamespaces) { namespaceMatches($0, r.identity) }
            && field(s.ipBlocks) { ipMatches($0, r.sourceIP) }
            && notField(s.notIpBlocks) { ipMatches($0, r.sourceIP) }
            && field(s.remoteIpBlocks) { ipMatches($0, r.remoteIP) }
            && notField(s.notRemoteIpBlocks) { ipMatches($0, r.remoteIP) }
    }

    static func operation(_ o: AuthorizationPolicy.Operation, _ r: RequestAttributes) -> Bool {
        let port = String(r.destinationPort)
        return field(o.hosts) { ValueMatcher($0, ignoreCase: true).matches(r.host) }
            && notField(o.notHosts) { ValueMatcher($0, ignoreCase: true).matches(r.host) }
            && field(o.ports) { $0 == port }
            && notField(o.notPorts) { $0 == port }
            && field(o.methods) { ValueMatcher($0).matches(r.method) }
            && notField(o.notMethods) { ValueMatcher($0).matches(r.method) }
            && field(o.paths) { PathMatcher($0).matches(r.path) }
            && notField(o.notPaths) { PathMatcher($0).matches(r.path) }
    }

    static func condition(_ c: AuthorizationPolicy.Condition, _ r: RequestAttributes) -> Bool {
        let test: (String) -> Bool
        switch c.attribute {
        case .sourceIP: test = { ipMatches($0, r.sourceIP) }
        case .remoteIP: test = { ipMatches($0, r.remoteIP) }
        case .destinationIP: test = { ipMatches($0, r.destinationIP) }
        case .sourcePrincipal: test = { principalMatches($0, r.identity) }
        case .sourceNamespace:
            test = { value in r.identity.namespace.map { ValueMatcher(value).matches($0) } ?? false }
        case .destinationPort: test = { $0 == String(r.destinationPort) }
        case .connectionSNI: test = { value in r.serverName.map { ValueMatcher(value).matches($0) } ?? false }
        case .requestHeader(let name):
            let header = r.headers.combined(name)
            test = { value in header.map { ValueMatcher(value).matches($0) } ?? false }
        }
        return field(c.values, test) && notField(c.notValues, test)
    }
}
