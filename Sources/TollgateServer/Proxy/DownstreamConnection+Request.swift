import HTTP1
import TollgateConfig
import TollgateCore
import TollgatePolicy
import TollgateRouting
import TollgateTLS

extension DownstreamConnection {
    /// A request head arrived: route it, authorize it, then answer locally or start forwarding.
    func beginRequest(_ received: RequestHead) {
        cancelTimer()
        let snapshot = runtime.current
        var head = received
        // Absolute-form (`GET https://host/path`): the target's authority replaces Host (RFC 9112 §3.2.2).
        if let (authority, originForm) = Self.splitAbsoluteForm(head.target) {
            head.target = originForm
            head.headers.set("host", authority)
        }
        if let tls, !stillVerifiedAsConfigured(tls, snapshot: snapshot) {
            // A reload changed how this port verifies clients (e.g. SIMPLE to MUTUAL): requests on a
            // connection verified the old way are not served. Closing without a response lets clients
            // retry on a new connection, with a new handshake, as they do when a keep-alive connection ends.
            logger.info("closing a connection verified under a previous TLS configuration", metadata: [
                "connection.id": "\(id)", "peer.address": "\(peerHost)", "tls.sni": "\(serverName ?? "-")",
            ])
            channel.close()
            return
        }
        let normalizedPath: String
        do {
            normalizedPath = try PathNormalizer.normalize(head.path)
        } catch {
            requestMalformed(HTTPParseError(status: 400, error.reason))
            return
        }
        let exchange = Exchange(head: head, snapshot: snapshot, startNanos: Clock.nowNanos(),
                                requestID: head.headers["x-request-id"] ?? Clock.uuid(), normalizedPath: normalizedPath)
        self.exchange = exchange
        if !HopByHop.wantsKeepAlive(head.headers, version: head.version) { keepAlive = false }
        guard let listener = snapshot.listeners[listenPort] else {
            // The port left the configuration while this connection was open.
            keepAlive = false
            exchange.responseFlags = "NR"
            respondLocally(status: 404, body: nil)
            return
        }
        // The block the handshake chose; after a reload, the block SNI chooses in the new configuration,
        // which `stillVerifiedAsConfigured` has checked verifies clients the same way.
        let serverIndex = tls.map { tls in
            listener.tls === tls.group ? tls.serverIndex : (listener.tls?.entryIndex(serverName: serverName) ?? 0)
        } ?? 0
        let server = listener.server(serverIndex)
        let authority = head.authority ?? ""
        let routeRequest = RouteRequest(method: head.method, path: normalizedPath, query: head.query, authority: authority,
                                        scheme: scheme, headers: head.headers, port: listener.plan.declaredPort)
        let decision = listener.routeTable(serverIndex: serverIndex).route(routeRequest)
        exchange.routeName = decision.routeName
        if case .misdirected = decision.action {
            exchange.responseDetails = "misdirected_request"
            respondLocally(status: 421, body: Array("Misdirected Request: \(HostName.stripPort(authority)) is not served on this TLS connection\n".utf8))
            return
        }

        var attributes = RequestAttributes(
            identity: identity, sourceIP: IPAddress(peerHost), remoteIP: remoteAddress(head.headers), host: authority,
            method: head.method, path: normalizedPath, destinationPort: listener.plan.declaredPort, serverName: serverName,
            headers: head.headers)
        let explain = ExplainPage.Context(requestID: exchange.requestID, head: head, path: normalizedPath, server: server)
        if let whoami = server.whoamiPath, normalizedPath == whoami {
            attributes.method = "GET"
            attributes.path = "/"
            let page = ExplainPage.whoami(identity: identity, problem: tls?.clientCertificateProblem, tls: tls,
                                          decision: snapshot.authorization.evaluate(attributes), context: explain)
            exchange.responseDetails = "whoami"
            respondLocally(status: 200, body: page.body, contentType: page.contentType, extraHeaders: [("cache-control", "no-store")])
            return
        }
        // Only in explain mode does a client with a missing or bad certificate get this far; it is
        // answered here and never reaches a route.
        if let problem = tls?.clientCertificateProblem {
            let page = ExplainPage.certificateProblem(problem, context: explain)
            exchange.responseDetails = "client_certificate_rejected"
            logger.info("client certificate explained", metadata: ["request.id": "\(exchange.requestID)", "peer.address": "\(peerHost)",
                                                                  "problem": "\(problem)"])
            respondLocally(status: 403, body: page.body, contentType: page.contentType, extraHeaders: [("cache-control", "no-store")])
            return
        }
        let verdict = snapshot.authorization.evaluate(attributes)
        exchange.authorization = verdict
        for audited in verdict.audited {
            logger.info("audit policy matched", metadata: ["request.id": "\(exchange.requestID)", "policy": "\(audited)"])
        }
        guard verdict.allowed else {
            logger.info("request denied", metadata: [
                "request.id": "\(exchange.requestID)", "peer.address": "\(peerHost)", "peer.principal": "\(identity.principal ?? "-")",
                "request.method": "\(head.method)", "request.path": "\(normalizedPath)", "policy": "\(verdict.matchedPolicy ?? "none")",
                "reason": "\(verdict.reason)",
            ])
            exchange.responseDetails = verdict.responseDetails ?? "-"
            if server.explain {
                let page = ExplainPage.denied(verdict, identity: identity, context: explain)
                respondLocally(status: 403, body: page.body, contentType: page.contentType)
            } else {
                respondLocally(status: 403, body: Array("RBAC: access denied".utf8), contentType: "text/plain")
            }
            return
        }

        var headerOperations = decision.headerOperations
        switch CorsResponder.evaluate(decision.corsPolicy, method: head.method, headers: head.headers) {
        case .none:
            break
        case .preflight(let headers):
            exchange.responseDetails = "cors_preflight"
            respondLocally(status: 200, body: nil, extraHeaders: headers)
            return
        case .actual(let headers):
            headerOperations.response.set += headers
        }

        switch decision.action {
        case .notFound:
            exchange.responseFlags = "NR"
            exchange.responseDetails = "route_not_found"
            respondLocally(status: 404, body: nil)
        case .misdirected:
            break
        case .redirect(let status, let location):
            respondLocally(status: status, body: nil, extraHeaders: [("location", location)], headerOperations: headerOperations)
        case .directResponse(let status, let body):
            exchange.responseDetails = "direct_response"
            respondLocally(status: status, body: body, contentType: body == nil ? nil : "text/plain",
                           headerOperations: headerOperations)
        case .forward(let plan):
            startForward(plan, headerOperations: headerOperations)
        }
    }

    func stillVerifiedAsConfigured(_ tls: TLSConnection, snapshot: ConfigSnapshot) -> Bool {
        guard let group = snapshot.listeners[listenPort]?.tls else { return false }
        if group === verifiedUnder { return true }
        guard let index = group.entryIndex(serverName: serverName) else { return false }
        let context = group.entries[index].context
        // Verified alike, or only the CRL changed and this client's certificate passes the new one.
        guard context.settings.verifiesClientsLike(tls.verificationSettings)
            || (context.settings.differsOnlyInRevocation(from: tls.verificationSettings) && tls.clientStillPasses(context)) else { return false }
        verifiedUnder = group
        return true
    }

    static func splitAbsoluteForm(_ target: String) -> (authority: String, originForm: String)? {
        for scheme in ["http://", "https://"] where target.lowercased().hasPrefix(scheme) {
            let rest = target.dropFirst(scheme.count)
            let end = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            let authority = String(rest[..<end])
            var origin = String(rest[end...])
            if origin.hasPrefix("?") || origin.isEmpty { origin = "/" + origin }
            return authority.isEmpty ? nil : (authority, origin)
        }
        return nil
    }

    /// The trusted client address: the peer, or with `--trusted-proxies N` the Nth address from the
    /// right of `x-forwarded-for` (Envoy `xff_num_trusted_hops`).
    func remoteAddress(_ headers: HTTPHeaders) -> IPAddress? {
        let hops = runtime.settings.trustedProxies
        guard hops > 0, let xff = headers.combined("x-forwarded-for") else { return IPAddress(peerHost) }
        let addresses = xff.split(separator: ",").map { $0.trimmingASCIIWhitespace() }
        guard addresses.count >= hops else { return IPAddress(peerHost) }
        return IPAddress(addresses[addresses.count - hops]) ?? IPAddress(peerHost)
    }

    func requestBody(_ bytes: [UInt8]) {
        guard let exchange else { return }
        exchange.bytesReceived += bytes.count
        guard let upstream = exchange.upstream else { return }  // answered locally: the body is dropped
        exchange.recordForReplay(bytes)
        upstream.write(exchange.requestBodyChunked ? MessageEncoder.chunk(bytes) : bytes)
        if !upstream.isWritable { setReadPaused(.upstreamBackpressure, true) }
    }

    func requestEnd() {
        guard let exchange else { return }
        exchange.requestComplete = true
        if exchange.requestBodyChunked, let upstream = exchange.upstream {
            upstream.write(MessageEncoder.lastChunk)
        }
        if exchange.responseComplete { finishExchange() }
    }

    /// Answers from the gateway itself. The connection closes afterwards when the request body has
    /// not been read in full, so no leftover bytes are mistaken for a next request.
    func respondLocally(status: Int, body: [UInt8]?, contentType: String? = nil, extraHeaders: [(String, String)] = [],
                        headerOperations: HeaderOperations = HeaderOperations()) {
        guard let exchange else { return }
        if !exchange.requestComplete { keepAlive = false }
        var headers = HTTPHeaders([("date", loop.httpDate()), ("server", GatewayRuntime.serverName)])
        for (name, value) in extraHeaders { headers.add(name, value) }
        if let contentType { headers.add("content-type", contentType) }
        headers.add("content-length", String(body?.count ?? 0))
        HeaderEditor.apply(headerOperations.response, to: &headers)
        if !keepAlive { headers.set("connection", "close") }
        let response = ResponseHead(status: status, headers: headers)
        var bytes = MessageEncoder.encode(response)
        if let body, !exchange.isHead { bytes += body }
        exchange.status = status
        exchange.responseStarted = true
        exchange.responseComplete = true
        exchange.bytesSent += body?.count ?? 0
        channel.write(bytes)
        finishExchange()
    }
}

/// Applies VirtualService `headers` operations.
enum HeaderEditor {
    static func apply(_ ops: HeaderOperations.Operations, to headers: inout HTTPHeaders) {
        for (name, value) in ops.set { headers.set(name, value) }
        for (name, value) in ops.add { headers.add(name, value) }
        for name in ops.remove { headers.remove(name) }
    }
}
