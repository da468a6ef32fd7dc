import HTTP1
import TollgateConfig
import TollgateCore
import TollgatePolicy
import TollgateRouting

/// What the connection a request arrived on tells about it: facts the I/O layer gathered once, kept by the
/// connection and lent to the planner for each request (a class, so a request copies none of its fields).
public final class ConnectionContext: Sendable {
    public let identity: PeerIdentity
    /// The handshake completed without a valid client certificate on a block that asks for one (explain
    /// mode only: otherwise such a handshake fails).
    public let hasCertificateProblem: Bool
    /// The SNI that chose the connection's TLS server block.
    public let serverName: String?
    /// The client: the socket's peer, or what a trusted PROXY header said.
    public let peerAddress: IPAddress?
    /// The gateway's own address of the connection (`destination.ip`).
    public let localAddress: IPAddress?
    /// `https` or `http`.
    public let scheme: String
    /// How many proxies in front are trusted to append to `x-forwarded-for` (Envoy `xff_num_trusted_hops`).
    public let trustedProxies: Int

    public init(
        identity: PeerIdentity, hasCertificateProblem: Bool = false, serverName: String? = nil, peerAddress: IPAddress?,
        localAddress: IPAddress? = nil, scheme: String, trustedProxies: Int = 0
    ) {
        self.identity = identity
        self.hasCertificateProblem = hasCertificateProblem
        self.serverName = serverName
        self.peerAddress = peerAddress
        self.localAddress = localAddress
        self.scheme = scheme
        self.trustedProxies = trustedProxies
    }
}

/// The configuration a request is decided by: the route table of its connection's server block, that
/// block's Gateway server (opt-in pages), and the policies. Built once per configuration and server block,
/// and lent to the planner for each request; the opt-in annotations are read once here, not per request.
public final class ListenerContext: Sendable {
    public let routeTable: RouteTable
    public let server: ListenerPlan.Server
    public let declaredPort: Int
    public let authorization: AuthorizationEngine
    /// `server.explain`, `server.whoamiPath` and `server.enrollment`.
    let explain: Bool
    let whoamiPath: String?
    let enrollment: Bool

    public init(
        routeTable: RouteTable, server: ListenerPlan.Server, declaredPort: Int, authorization: AuthorizationEngine
    ) {
        self.routeTable = routeTable
        self.server = server
        self.declaredPort = declaredPort
        self.authorization = authorization
        explain = server.explain
        whoamiPath = server.whoamiPath
        enrollment = server.enrollment
    }
}

/// The decision for one request, made from values alone; the connection only carries it out. A class: the
/// plan (the request head and an action with its forward plan) passes from the planner to the connection and
/// an exchange by reference, where a struct of this size was copied field by field at each step. Built and
/// read on one connection's loop.
public final class RequestPlan: @unchecked Sendable {
    /// The head as it will be treated: an absolute-form target split into origin form and `Host`, underscore
    /// look-alikes of protected fields removed (`RequestHead.preparedForProxying`).
    public var head: RequestHead
    /// The look-alike field names removed, for a debug log.
    public var droppedHeaders: [String] = []
    /// The path policies and routes saw (Istio's normalization); empty when the request was rejected.
    public var normalizedPath: String
    public var routeName: String?
    /// The policy decision, when policies were evaluated.
    public var authorization: AuthorizationDecision?
    /// The protocol the request asks to switch to. `.websocket` with a `.forward` action: the upgrade goes
    /// to the upstream, and its `101` turns the connection into a tunnel.
    public var upgrade: UpgradeRequest = .none
    public var action: Action

    public init(head: RequestHead, normalizedPath: String, action: Action) {
        self.head = head
        self.normalizedPath = normalizedPath
        self.action = action
    }

    public enum Action: Sendable {
        /// The request is malformed (a path normalization refuses): answer the status and close.
        case reject(status: Int, reason: String)
        /// The port left the configuration while the connection was open.
        case portClosed
        /// The Host selects another TLS server block than the connection's (421).
        case misdirected(host: String)
        /// The Gateway's whoami path; the decision a `GET /` would get, and the server whose page answers.
        case whoami(AuthorizationDecision, server: ListenerPlan.Server)
        /// Explain mode: the client's certificate is missing or bad; never routed.
        case explainCertificateProblem(server: ListenerPlan.Server)
        /// A block that admits certificate-less clients for enrollment: any other path is refused (403).
        case certificateRequired
        /// A one-time enrollment link (`tollgate.io/enroll`), answered by the gateway whatever the certificate.
        case enroll(EnrollmentRequest)
        /// Denied by policy: `RBAC: access denied`, or the explain page of `explainOn` when its Gateway opted in.
        case deny(AuthorizationDecision, explainOn: ListenerPlan.Server?)
        /// An upgrade to a protocol other than WebSocket: Envoy refuses one missing from `upgrade_configs`
        /// (Istio's gateways list only `websocket`) with 403 and `upgrade_failed`.
        case upgradeRefused(protocol: String)
        /// A CORS preflight answered by the gateway (200, these headers).
        case corsPreflight(headers: [(String, String)])
        case notFound
        case redirect(status: Int, location: String, HeaderOperations)
        case directResponse(status: Int, body: [UInt8]?, HeaderOperations)
        case forward(ForwardPlan, HeaderOperations)
    }
}

extension RequestPlan.Action {
    /// A short name of the case, for logs and tests.
    public var kind: String {
        switch self {
        case .reject(let status, _): "reject \(status)"
        case .portClosed: "port closed"
        case .misdirected: "misdirected"
        case .whoami: "whoami"
        case .explainCertificateProblem: "explain certificate"
        case .certificateRequired: "certificate required"
        case .enroll(let request): "enroll \(request.resource?.rawValue ?? "malformed")"
        case .deny(_, let explainOn): explainOn != nil ? "deny explained" : "deny"
        case .upgradeRefused: "upgrade refused"
        case .corsPreflight: "cors preflight"
        case .notFound: "not found"
        case .redirect(let status, _, _): "redirect \(status)"
        case .directResponse(let status, _, _): "direct \(status)"
        case .forward: "forward"
        }
    }
}
