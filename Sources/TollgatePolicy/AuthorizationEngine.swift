import TollgateConfig
import TollgateCore

/// Everything a policy can look at for one request.
public struct RequestAttributes: Sendable {
    public var identity: PeerIdentity
    /// TCP peer address.
    public var sourceIP: IPAddress?
    /// Client address after trusted proxies (equals `sourceIP` with none).
    public var remoteIP: IPAddress?
    /// The `Host` header as sent, port included (Istio matches it that way).
    public var host: String
    public var method: String
    /// Normalized path without query.
    public var path: String
    /// The Gateway's declared port.
    public var destinationPort: Int
    /// The gateway's own address of the connection (`destination.ip`); nil only when the socket cannot say.
    public var destinationIP: IPAddress?
    public var serverName: String?
    public var headers: HTTPHeaders

    public init(
        identity: PeerIdentity, sourceIP: IPAddress?, remoteIP: IPAddress? = nil, host: String, method: String,
        path: String,
        destinationPort: Int, destinationIP: IPAddress?, serverName: String? = nil, headers: HTTPHeaders = HTTPHeaders()
    ) {
        self.identity = identity
        self.sourceIP = sourceIP
        self.remoteIP = remoteIP ?? sourceIP
        self.host = host
        self.method = method
        self.path = path
        self.destinationPort = destinationPort
        self.destinationIP = destinationIP
        self.serverName = serverName
        self.headers = headers
    }
}

/// The outcome, with what decided it, for logs and the explain page.
public struct AuthorizationDecision: Sendable, Equatable {
    public var allowed: Bool
    /// `ns[<ns>]-policy[<name>]-rule[<i>]` of the deciding rule; `none` when no ALLOW rule matched.
    public var matchedPolicy: String?
    public var reason: String
    /// AUDIT policies that matched (they never change the decision).
    public var audited: [String]
    /// Dry-run DENY policies that would have denied.
    public var dryRunDenied: [String]

    public init(
        allowed: Bool, matchedPolicy: String?, reason: String, audited: [String] = [], dryRunDenied: [String] = []
    ) {
        self.allowed = allowed
        self.matchedPolicy = matchedPolicy
        self.reason = reason
        self.audited = audited
        self.dryRunDenied = dryRunDenied
    }

    /// Envoy's `%RESPONSE_CODE_DETAILS%` for a denial.
    public var responseDetails: String? {
        allowed ? nil : "rbac_access_denied_matched_policy[\(matchedPolicy ?? "none")]"
    }
}

/// The AuthorizationPolicies that apply to this gateway, compiled once per configuration.
/// `evaluate` is pure and runs on the request path.
public struct AuthorizationEngine: Sendable {
    struct CompiledPolicy: Sendable {
        var id: String
        var policy: AuthorizationPolicy
        var rules: [RuleMatcher]
    }

    let deny: [CompiledPolicy]
    let allow: [CompiledPolicy]
    let audit: [CompiledPolicy]
    /// Policies that were loaded but do not select this gateway, with why (for `validate` and logs).
    public let skipped: [(name: String, reason: String)]

    public var isEmpty: Bool { deny.isEmpty && allow.isEmpty && audit.isEmpty }

    /// - Parameters:
    ///   - labels: the gateway's workload labels (default `istio: ingressgateway`).
    ///   - namespace: the gateway's namespace; `rootNamespace` policies apply everywhere.
    public init(
        policies: [AuthorizationPolicy], labels: [String: String] = ["istio": "ingressgateway"],
        namespace: String = "istio-system", rootNamespace: String = "istio-system"
    ) {
        var deny: [CompiledPolicy] = []
        var allow: [CompiledPolicy] = []
        var audit: [CompiledPolicy] = []
        var skipped: [(String, String)] = []
        for policy in policies {
            let name = policy.meta.qualifiedName
            guard policy.meta.namespace == namespace || policy.meta.namespace == rootNamespace else {
                skipped.append(
                    (
                        name,
                        "namespace \(policy.meta.namespace) is neither the gateway's (\(namespace)) nor the root (\(rootNamespace))"
                    ))
                continue
            }
            if let selector = policy.matchLabels, !selector.allSatisfy({ labels[$0.key] == $0.value }) {
                skipped.append(
                    (
                        name,
                        "selector \(selector.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")) does not match the gateway's labels"
                    ))
                continue
            }
            let compiled = CompiledPolicy(
                id: "ns[\(policy.meta.namespace)]-policy[\(policy.meta.name)]", policy: policy,
                rules: policy.rules.map(RuleMatcher.init))
            switch policy.action {
            case .deny: deny.append(compiled)
            case .allow: allow.append(compiled)
            case .audit: audit.append(compiled)
            }
        }
        self.deny = deny
        self.allow = allow.filter { !$0.policy.dryRun }
        self.audit = audit
        self.skipped = skipped
    }

    /// Istio's order: any matching DENY denies; with no ALLOW policy everything else is allowed;
    /// otherwise some ALLOW rule must match.
    public func evaluate(_ request: RequestAttributes) -> AuthorizationDecision {
        guard !isEmpty else { return Self.withoutPolicies }
        let audited = audit.compactMap { p in firstMatchingRule(p, request).map { "\(p.id)-rule[\($0)]" } }
        var dryRun: [String] = []
        for p in deny {
            guard let rule = firstMatchingRule(p, request) else { continue }
            let id = "\(p.id)-rule[\(rule)]"
            if p.policy.dryRun {
                dryRun.append(id)
                continue
            }
            return AuthorizationDecision(
                allowed: false, matchedPolicy: id,
                reason: "denied by DENY policy \(p.policy.meta.qualifiedName) rule \(rule)",
                audited: audited, dryRunDenied: dryRun)
        }
        guard !allow.isEmpty else {
            return AuthorizationDecision(
                allowed: true, matchedPolicy: nil, reason: "no ALLOW policy applies", audited: audited,
                dryRunDenied: dryRun)
        }
        for p in allow {
            if let rule = firstMatchingRule(p, request) {
                return AuthorizationDecision(
                    allowed: true, matchedPolicy: "\(p.id)-rule[\(rule)]",
                    reason: "allowed by ALLOW policy \(p.policy.meta.qualifiedName) rule \(rule)",
                    audited: audited, dryRunDenied: dryRun)
            }
        }
        return AuthorizationDecision(
            allowed: false, matchedPolicy: "none",
            reason:
                "no rule of the ALLOW policies (\(allow.map(\.policy.meta.qualifiedName).joined(separator: ", "))) matched",
            audited: audited, dryRunDenied: dryRun)
    }

    /// The decision when no policy applies: what `evaluate` gives then, without the request's attributes.
    public static let withoutPolicies = AuthorizationDecision(
        allowed: true, matchedPolicy: nil, reason: "no ALLOW policy applies")

    /// `evaluate`, building the request's attributes only when some policy applies (most gateways have none).
    public func evaluate(_ request: () -> RequestAttributes) -> AuthorizationDecision {
        isEmpty ? Self.withoutPolicies : evaluate(request())
    }

    func firstMatchingRule(_ policy: CompiledPolicy, _ request: RequestAttributes) -> Int? {
        policy.rules.firstIndex { $0.matches(request) }
    }
}
