import HTTP1
import TollgateConfig
import TollgateCore
import TollgatePolicy
import TollgateRouting

/// Decides what to do with a request head — the SNI/Host block check, routing, authorization, the
/// opt-in explain and whoami pages, CORS, redirects and direct responses — as a value. Pure: no I/O, no
/// clock, no randomness, so every branch is a unit test; HTTP/1.1 connections call it per request and
/// an HTTP/2 connection would per stream.
public enum RequestPlanner {
    public static func plan(_ received: RequestHead, connection: ConnectionContext, listener: ListenerContext?)
        -> RequestPlan
    {
        let plan = decide(received, connection: connection, listener: listener)
        // RFC 8441 §5: over HTTP/2 a 2xx to an extended CONNECT says the tunnel is open, and only an upstream's
        // 101 opens one. A page the gateway would answer itself with 2xx is refused as an upgrade it cannot carry.
        if plan.upgrade == .websocket && received.version == .http2 {
            switch plan.action {
            case .whoami, .enroll, .corsPreflight: plan.action = .upgradeRefused(protocol: "websocket")
            case .directResponse(let status, _, _) where (200..<300).contains(status):
                plan.action = .upgradeRefused(protocol: "websocket")
            default: break
            }
        }
        return plan
    }

    private static func decide(_ received: RequestHead, connection: ConnectionContext, listener: ListenerContext?)
        -> RequestPlan
    {
        // Absolute-form (`GET https://host/path`): the target's authority replaces Host (RFC 9112 §3.2.2);
        // underscore spellings of protected fields (`Transfer_Encoding`) are dropped before anything reads them.
        let (head, dropped) = received.preparedForProxying()
        let plan = RequestPlan(head: head, normalizedPath: "", action: .notFound)
        plan.droppedHeaders = dropped
        do {
            plan.normalizedPath = try PathNormalizer.normalize(head.path)
        } catch {
            plan.action = .reject(status: 400, reason: error.reason)
            return plan
        }
        do {
            plan.upgrade = try UpgradeRequest.classify(head)
        } catch let error as HTTPParseError {
            // A WebSocket handshake RFC 6455 §4.2.1 forbids: answered and closed, whatever the route or policy.
            plan.action = .reject(status: error.status, reason: error.reason)
            return plan
        } catch {
            plan.action = .reject(status: 400, reason: "\(error)")
            return plan
        }
        // Envoy ignores `Upgrade: h2c` (the fields are dropped as hop-by-hop) rather than refuse it: clients
        // such as Java's send it on every plain request.
        // Over HTTP/2 the name came from an extended CONNECT's `:protocol`, which is refused like any other.
        if plan.upgrade == .other("h2c") && head.version != .http2 { plan.upgrade = .none }
        guard let listener else {
            plan.action = .portClosed
            return plan
        }
        let authority = head.authority ?? ""
        let decision = listener.routeTable.route(
            RouteRequest(
                method: head.method, path: plan.normalizedPath, query: head.query, authority: authority,
                scheme: connection.scheme,
                headers: head.headers, port: listener.declaredPort))
        plan.routeName = decision.routeName
        if case .misdirected = decision.action {
            plan.action = .misdirected(host: HostName.stripPort(authority))
            return plan
        }

        // What policies look at, built only when one applies (and the client address only when asked for).
        let normalizedPath = plan.normalizedPath
        func attributes(method: String? = nil, path: String? = nil) -> RequestAttributes {
            RequestAttributes(
                identity: connection.identity, sourceIP: connection.peerAddress,
                remoteIP: remoteAddress(
                    head.headers, peer: connection.peerAddress, trustedProxies: connection.trustedProxies),
                host: authority, method: method ?? head.method, path: path ?? normalizedPath,
                destinationPort: listener.declaredPort,
                destinationIP: connection.localAddress, serverName: connection.serverName, headers: head.headers)
        }
        if listener.enrollment, connection.scheme == "https",
            plan.normalizedPath.hasPrefix(EnrollmentRequest.pathPrefix)
        {
            // DENY policies hold here too (links only from some networks); ALLOW policies name principals
            // that a device without its certificate cannot have yet, so they do not.
            let verdict = listener.authorization.evaluate { attributes() }
            if !verdict.allowed && verdict.matchedPolicy != "none" {
                plan.authorization = verdict
                plan.action = .deny(verdict, explainOn: listener.explain ? listener.server : nil)
                return plan
            }
            let client = remoteAddress(
                head.headers, peer: connection.peerAddress, trustedProxies: connection.trustedProxies)
            plan.action = enrollment(head, normalizedPath: plan.normalizedPath, client: client)
            return plan
        }
        if listener.enrollment, connection.scheme != "https",
            plan.normalizedPath.hasPrefix(EnrollmentRequest.pathPrefix)
        {
            // Someone typed the link with http://: answered here unless the server redirects to HTTPS, so
            // the token never reaches an upstream (or its logs) as an ordinary path.
            if case .redirect = decision.action {
            } else {
                plan.action = .directResponse(
                    status: 404, body: Array("enrollment links are served over HTTPS only\n".utf8), HeaderOperations())
                return plan
            }
        }
        // Only a block that admits clients without a certificate (for enrollment) completes such a
        // handshake outside explain mode: nothing else on it is served to them.
        if connection.hasCertificateProblem && !listener.explain {
            plan.action = .certificateRequired
            return plan
        }
        if let whoami = listener.whoamiPath, plan.normalizedPath == whoami {
            plan.action = .whoami(
                listener.authorization.evaluate { attributes(method: "GET", path: "/") }, server: listener.server)
            return plan
        }
        // Only in explain mode does a client with a missing or bad certificate get this far; it is
        // answered and never reaches a route.
        if connection.hasCertificateProblem {
            plan.action = .explainCertificateProblem(server: listener.server)
            return plan
        }
        let verdict = listener.authorization.evaluate { attributes() }
        plan.authorization = verdict
        guard verdict.allowed else {
            plan.action = .deny(verdict, explainOn: listener.explain ? listener.server : nil)
            return plan
        }
        if case .other(let name) = plan.upgrade {
            plan.action = .upgradeRefused(protocol: name)
            return plan
        }

        var headerOperations = decision.headerOperations
        switch CorsResponder.evaluate(decision.corsPolicy, method: head.method, headers: head.headers) {
        case .none:
            break
        case .preflight(let headers):
            plan.action = .corsPreflight(headers: headers)
            return plan
        case .actual(let headers):
            headerOperations.response.set += headers
        }
        switch decision.action {
        case .notFound, .misdirected: plan.action = .notFound
        case .redirect(let status, let location):
            plan.action = .redirect(status: status, location: location, headerOperations)
        case .directResponse(let status, let body):
            plan.action = .directResponse(status: status, body: body, headerOperations)
        case .forward(let forward): plan.action = .forward(forward, headerOperations)
        }
        return plan
    }

    /// A request under `/.tollgate/enroll/`: the gateway owns that prefix on an opted-in Gateway. Only GET
    /// and HEAD of a path already in canonical form (no dot segments, no escapes, the same bytes the client
    /// sent) name a resource; anything else there is a malformed link, answered like an unknown token.
    static func enrollment(_ head: RequestHead, normalizedPath: String, client: IPAddress?) -> RequestPlan.Action {
        guard head.method == "GET" || head.method == "HEAD" else {
            return .directResponse(status: 405, body: Array("method not allowed\n".utf8), HeaderOperations())
        }
        var request = EnrollmentRequest(token: nil, resource: nil, client: client)
        guard head.path == normalizedPath else { return .enroll(request) }
        let parts = normalizedPath.dropFirst(EnrollmentRequest.pathPrefix.count).split(
            separator: "/", omittingEmptySubsequences: false)
        guard let token = parts.first, EnrollmentRequest.isWellFormed(token) else { return .enroll(request) }
        switch parts.count == 1 ? "" : parts.count == 2 && !parts[1].isEmpty ? String(parts[1]) : "/" {
        case "": request.resource = .page
        case EnrollmentRequest.Resource.bundle.rawValue: request.resource = .bundle
        case EnrollmentRequest.Resource.caCertificate.rawValue: request.resource = .caCertificate
        default: return .enroll(request)
        }
        request.token = String(token)
        return .enroll(request)
    }

    /// The trusted client address: the peer, or with `trustedProxies` N the Nth address from the right of
    /// `x-forwarded-for` (Envoy `xff_num_trusted_hops`).
    public static func remoteAddress(_ headers: HTTPHeaders, peer: IPAddress?, trustedProxies hops: Int) -> IPAddress? {
        guard hops > 0, let xff = headers.combined("x-forwarded-for") else { return peer }
        let addresses = xff.split(separator: ",").map { $0.trimmingASCIIWhitespace() }
        guard addresses.count >= hops else { return peer }
        return IPAddress(addresses[addresses.count - hops]) ?? peer
    }
}

/// Applies VirtualService `headers` operations.
public enum HeaderEditor {
    public static func apply(_ ops: HeaderOperations.Operations, to headers: inout HTTPHeaders) {
        for (name, value) in ops.set { headers.set(name, value) }
        for (name, value) in ops.add { headers.add(name, value) }
        for name in ops.remove { headers.remove(name) }
    }
}
