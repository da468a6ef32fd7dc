import TollgateConfig
import TollgateCore

/// What a request looks like to the router.
public struct RouteRequest: Sendable {
    public var method: String
    public var path: String
    public var query: String?
    /// The `Host` header as sent (may carry a port).
    public var authority: String
    public var scheme: String
    public var headers: HTTPHeaders
    /// The Gateway's declared port the request arrived on.
    public var port: Int

    public init(
        method: String, path: String, query: String?, authority: String, scheme: String, headers: HTTPHeaders, port: Int
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.authority = authority
        self.scheme = scheme
        self.headers = headers
        self.port = port
    }
}

/// What to do with a request, decided from configuration alone.
public enum RouteAction: Sendable, Equatable {
    case forward(ForwardPlan)
    case redirect(status: Int, location: String)
    case directResponse(status: Int, body: [UInt8]?)
    /// No route: 404 with an empty body, as Envoy answers (`NR`).
    case notFound
    /// On a port with several TLS server blocks, the Host does not select the block this connection's
    /// handshake selected (RFC 9110 §15.5.20): its verification says nothing about that host.
    case misdirected
}

public struct RouteDecision: Sendable, Equatable {
    public var action: RouteAction
    /// `namespace/name` of the VirtualService and the route's index or name, for logs.
    public var routeName: String?
    public var headerOperations: HeaderOperations
    public var corsPolicy: CorsPolicy?
}

/// A destination chosen for a request, and what to change on the way.
/// A class: the plan goes from the route table through the request plan to the exchange, and is read at each
/// attempt and retry decision, by reference rather than as a copy of each of its fields.
public final class ForwardPlan: Sendable, Equatable {
    public let destinations: [HTTPRouteDestination]
    /// Path and query to send upstream (after rewrite).
    public let target: String
    /// Host header to send upstream (after rewrite).
    public let authority: String
    public let timeoutMilliseconds: Int?
    public let retries: RetryPolicy

    public init(
        destinations: [HTTPRouteDestination], target: String, authority: String, timeoutMilliseconds: Int?,
        retries: RetryPolicy
    ) {
        self.destinations = destinations
        self.target = target
        self.authority = authority
        self.timeoutMilliseconds = timeoutMilliseconds
        self.retries = retries
    }

    public static func == (a: ForwardPlan, b: ForwardPlan) -> Bool {
        a.destinations == b.destinations && a.target == b.target && a.authority == b.authority
            && a.timeoutMilliseconds == b.timeoutMilliseconds && a.retries == b.retries
    }

    /// Picks a destination by weight; `random` is any value in 0..<UInt64.max (injected for tests).
    public func pick(random: UInt64) -> HTTPRouteDestination {
        guard destinations.count > 1 else { return destinations[0] }
        let total = destinations.reduce(0) { $0 + UInt64($1.weight) }
        guard total > 0 else { return destinations[Int(random % UInt64(destinations.count))] }
        var point = random % total
        for d in destinations {
            if point < UInt64(d.weight) { return d }
            point -= UInt64(d.weight)
        }
        return destinations[destinations.count - 1]
    }
}

/// The routes of one server block (HTTPS) or one plain-HTTP port: virtual hosts, each an ordered
/// list of routes. Immutable; built once per configuration.
public struct RouteTable: Sendable {
    struct VirtualHost: Sendable {
        var domain: String
        var routes: [CompiledRoute]
    }

    /// A class, and its name, destinations and retries worked out once: matching a request copies no route.
    final class CompiledRoute: Sendable {
        let virtualService: String
        let index: Int
        let route: HTTPRoute
        let match: HTTPMatchRequest?
        let retries: RetryPolicy
        let name: String
        /// One destination ignores its weight; among several, weight 0 means "never" (Istio drops them).
        let destinations: [HTTPRouteDestination]

        init(virtualService: String, index: Int, route: HTTPRoute, match: HTTPMatchRequest?, retries: RetryPolicy) {
            self.virtualService = virtualService
            self.index = index
            self.route = route
            self.match = match
            self.retries = retries
            name = "\(virtualService).\(route.name ?? String(index))"
            let weighted = route.route.filter { $0.weight > 0 }
            destinations = route.route.count == 1 || weighted.isEmpty ? route.route : weighted
        }
    }

    var virtualHosts: [VirtualHost]
    /// Hosts served here; requests for them without a matching VirtualService get 404.
    public let serverHosts: [String]
    /// The TLS server blocks of the port and which one this table serves (for 421); nil for plain HTTP.
    let portBlocks: (selector: ServerNameSelector, block: Int)?
    let httpsRedirect: Bool

    /// Builds the table for servers `servers` (one TLS server block, or all servers of a plain-HTTP
    /// port); `portBlocks` names the blocks of a TLS port and the one this table belongs to.
    public init(
        servers: [ListenerPlan.Server], portBlocks: (selector: ServerNameSelector, block: Int)? = nil,
        model: ConfigModel
    ) {
        serverHosts = servers.flatMap(\.server.hosts)
        self.portBlocks = portBlocks
        httpsRedirect = servers.contains { $0.server.tls?.httpsRedirect == true }
        var hosts: [String: [CompiledRoute]] = [:]
        var order: [String] = []
        for vs in model.virtualServices {
            for server in servers {
                for (index, route) in vs.http.enumerated() {
                    let matches: [HTTPMatchRequest?] = route.match.isEmpty ? [nil] : route.match
                    for match in matches {
                        let gateways = (match?.gateways.isEmpty == false) ? match!.gateways : vs.gateways
                        guard gateways.contains(server.gateway) else { continue }
                        let gatewayNamespace = String(server.gateway.split(separator: "/").first ?? "")
                        for vsHost in vs.hosts {
                            for (hostIndex, serverHost) in server.server.hosts.enumerated()
                            where HostName.intersects(vsHost, serverHost)
                                && server.server.admits(
                                    virtualServiceNamespace: vs.meta.namespace, hostIndex: hostIndex,
                                    gatewayNamespace: gatewayNamespace)
                            {
                                let domain = Self.moreSpecific(vsHost, serverHost)
                                if hosts[domain] == nil { order.append(domain) }
                                let compiled = CompiledRoute(
                                    virtualService: vs.meta.qualifiedName, index: index, route: route, match: match,
                                    retries: RetryPolicy(route.retries ?? .istioDefault))
                                if !(hosts[domain]?.contains {
                                    $0.virtualService == compiled.virtualService && $0.index == index
                                        && $0.match == match
                                } ?? false) {
                                    hosts[domain, default: []].append(compiled)
                                }
                            }
                        }
                    }
                }
            }
        }
        // Istio moves catch-all routes behind the specific ones when VirtualServices are merged.
        virtualHosts = order.map { domain in
            let routes = hosts[domain]!
            let specific = routes.filter { !($0.match?.isCatchAll ?? true) }
            let catchAll = routes.filter { $0.match?.isCatchAll ?? true }
            return VirtualHost(domain: domain, routes: specific + catchAll)
        }
    }

    static func moreSpecific(_ a: String, _ b: String) -> String {
        if a == "*" { return b }
        if b == "*" { return a }
        if a.hasPrefix("*.") && !b.hasPrefix("*.") { return b }
        if b.hasPrefix("*.") && !a.hasPrefix("*.") { return a }
        return a.count >= b.count ? a : b
    }

    /// Envoy's domain choice: exact, then the longest `*.suffix`, then `*`.
    func virtualHost(for host: String) -> VirtualHost? {
        if let exact = virtualHosts.first(where: { $0.domain == host }) { return exact }
        let wildcard = virtualHosts.filter {
            $0.domain.hasPrefix("*.") && HostName.matches(pattern: $0.domain, host: host)
        }
        .max { $0.domain.count < $1.domain.count }
        return wildcard ?? virtualHosts.first { $0.domain == "*" }
    }

    public func route(_ request: RouteRequest) -> RouteDecision {
        let host = HostName.stripPort(request.authority)
        if let portBlocks, !portBlocks.selector.admits(host: host, onBlock: portBlocks.block) {
            return RouteDecision(
                action: .misdirected, routeName: nil, headerOperations: HeaderOperations(), corsPolicy: nil)
        }
        let served = serverHosts.contains { HostName.matches(pattern: $0, host: host) }
        if httpsRedirect && served {
            let location = "https://\(host)\(request.path)\(request.query.map { "?\($0)" } ?? "")"
            return RouteDecision(
                action: .redirect(status: 301, location: location), routeName: "https-redirect",
                headerOperations: HeaderOperations(), corsPolicy: nil)
        }
        guard let vhost = virtualHost(for: host) else {
            return RouteDecision(
                action: .notFound, routeName: nil, headerOperations: HeaderOperations(), corsPolicy: nil)
        }
        for compiled in vhost.routes where RouteMatcher.matches(compiled.match, request) {
            return RouteDecision(
                action: action(compiled, request), routeName: compiled.name,
                headerOperations: compiled.route.headers, corsPolicy: compiled.route.corsPolicy)
        }
        return RouteDecision(action: .notFound, routeName: nil, headerOperations: HeaderOperations(), corsPolicy: nil)
    }

    private func action(_ compiled: CompiledRoute, _ request: RouteRequest) -> RouteAction {
        // Read in place: a copy of the whole route per request retains and releases each of its fields.
        if let direct = compiled.route.directResponse {
            return .directResponse(status: direct.status, body: direct.body)
        }
        if let redirect = compiled.route.redirect {
            return .redirect(
                status: redirect.redirectCode, location: Rewriter.location(redirect, match: compiled.match, request))
        }
        let (path, authority) = Rewriter.rewrite(compiled.route.rewrite, match: compiled.match, request)
        let target = request.query.map { "\(path)?\($0)" } ?? path
        return .forward(
            ForwardPlan(
                destinations: compiled.destinations,
                target: target, authority: authority, timeoutMilliseconds: compiled.route.timeoutMilliseconds,
                retries: compiled.retries))
    }
}
