import HTTP1
import TollgateConfig
import TollgateCore
import TollgatePlanner
import TollgatePolicy
import TollgateRouting
import TollgateTLS

/// A request the planner has decided, with what the connection knew when it decided.
struct PlannedRequest {
    let plan: RequestPlan
    let snapshot: ConfigSnapshot
}

extension DownstreamConnection {
    /// A request head arrived: the planner decides (route, authorize, explain, CORS…) from values; this
    /// carries the plan out — answers locally or starts forwarding — and logs what it decided.
    func beginRequest(_ received: RequestHead) {
        cancelTimer()
        guard let planned = planRequest(received) else { return }
        carryOut(planned)
    }

    /// The connection's part of a request, the same for HTTP/1.1 and each HTTP/2 stream: the TLS verification
    /// still holds, the server block the handshake chose, and the planner's decision. Nil when the connection
    /// was closed instead.
    func planRequest(_ received: RequestHead) -> PlannedRequest? {
        let snapshot = runtime.current
        // A snapshot a request was already planned under passed this check then, and would again.
        if let tls, plannerListener?.snapshot !== snapshot, !stillVerifiedAsConfigured(tls, snapshot: snapshot) {
            // A reload changed how this port verifies clients (e.g. SIMPLE to MUTUAL): requests on a
            // connection verified the old way are not served. Closing without a response lets clients
            // retry on a new connection, with a new handshake, as they do when a keep-alive connection ends.
            logger.info(
                "closing a connection verified under a previous TLS configuration",
                metadata: [
                    "connection.id": "\(id)", "peer.address": "\(peerHost)", "tls.sni": "\(serverName ?? "-")",
                ])
            channel.close()
            return nil
        }
        let plan = RequestPlanner.plan(
            received, connection: plannerConnectionContext(), listener: plannerListenerContext(snapshot))
        return PlannedRequest(plan: plan, snapshot: snapshot)
    }

    /// What the connection tells the planner, gathered at its first request (after the handshake and any PROXY
    /// header, which fix all of it) and lent to every request after.
    private func plannerConnectionContext() -> ConnectionContext {
        if let plannerConnection { return plannerConnection }
        let context = ConnectionContext(
            identity: identity, hasCertificateProblem: tls?.clientCertificateProblem != nil, serverName: serverName,
            peerAddress: IPAddress(peerHost), localAddress: localAddress, scheme: scheme,
            trustedProxies: runtime.settings.trustedProxies)
        plannerConnection = context
        return context
    }

    /// The server block's configuration under `snapshot`: the block the handshake chose; after a reload, the
    /// block SNI chooses in the new configuration, which `stillVerifiedAsConfigured` has checked verifies
    /// clients the same way. Looked up again only when the snapshot changes.
    private func plannerListenerContext(_ snapshot: ConfigSnapshot) -> ListenerContext? {
        if let plannerListener, plannerListener.snapshot === snapshot { return plannerListener.context }
        let listener = snapshot.listeners[listenPort]
        let serverIndex =
            tls.map { tls in
                listener?.tls === tls.group ? tls.serverIndex : (listener?.tls?.entryIndex(serverName: serverName) ?? 0)
            } ?? 0
        let context = snapshot.listenerContext(port: listenPort, serverIndex: serverIndex)
        plannerListener = (snapshot, context)
        return context
    }
}

extension ExchangeOwner {
    /// Carries a plan out on this connection (HTTP/1.1) or stream (HTTP/2): the same answers, logs and
    /// forwarding for both. `requestBodyChunked` overrides the head's framing (an HTTP/2 body of unknown length).
    func carryOut(_ planned: PlannedRequest, requestBodyChunked: Bool? = nil) {
        let plan = planned.plan
        let snapshot = planned.snapshot
        if case .reject(let status, let reason) = plan.action {
            requestMalformed(HTTPParseError(status: status, reason))
            return
        }
        var head = plan.head
        // An enrollment token is a secret until its bundle is fetched: the access log never sees it.
        if case .enroll = plan.action { head.target = EnrollmentRequest.pathPrefix + "…" }
        if !plan.droppedHeaders.isEmpty {
            connection.logger.debug(
                "dropped header look-alikes",
                metadata: [
                    "connection.id": "\(connection.id)", "headers": "\(plan.droppedHeaders.joined(separator: ","))",
                ])
        }
        let exchange = Exchange(
            head: head, snapshot: snapshot, startNanos: Clock.nowNanos(),
            requestID: ForwardedHeaders.clientRequestID(head.headers) ?? Clock.uuid(),
            normalizedPath: plan.normalizedPath, requestBodyChunked: requestBodyChunked)
        self.exchange = exchange
        exchange.routeName = plan.routeName
        exchange.authorization = plan.authorization
        exchange.upgradesToWebSocket = plan.upgrade == .websocket
        if !HopByHop.wantsKeepAlive(head.headers, version: head.version) { keepAlive = false }
        for audited in plan.authorization?.audited ?? [] {
            connection.logger.info(
                "audit policy matched", metadata: ["request.id": "\(exchange.requestID)", "policy": "\(audited)"])
        }
        func explain(_ server: ListenerPlan.Server) -> ExplainPage.Context {
            ExplainPage.Context(requestID: exchange.requestID, head: head, path: plan.normalizedPath, server: server)
        }

        switch plan.action {
        case .reject:
            break
        case .portClosed:
            keepAlive = false
            exchange.responseFlags = .noRouteFound
            respond(status: 404, body: nil)
        case .misdirected(let host):
            exchange.responseDetails = "misdirected_request"
            respond(
                status: 421, body: Array("Misdirected Request: \(host) is not served on this TLS connection\n".utf8))
        case .whoami(let decision, let server):
            let page = ExplainPage.whoami(
                identity: connection.identity, problem: connection.tls?.clientCertificateProblem, tls: connection.tls,
                decision: decision,
                context: explain(server))
            exchange.responseDetails = "whoami"
            respond(
                status: 200, body: page.body, contentType: page.contentType,
                extraHeaders: [("cache-control", "no-store")])
        case .explainCertificateProblem(let server):
            guard let problem = connection.tls?.clientCertificateProblem else { return }
            let page = ExplainPage.certificateProblem(problem, context: explain(server))
            exchange.responseDetails = "client_certificate_rejected"
            connection.logger.info(
                "client certificate explained",
                metadata: [
                    "request.id": "\(exchange.requestID)", "peer.address": "\(connection.peerHost)",
                    "problem": "\(problem)",
                ])
            respond(
                status: 403, body: page.body, contentType: page.contentType,
                extraHeaders: [("cache-control", "no-store")])
        case .certificateRequired:
            refuseWithoutCertificate()
        case .enroll(let request):
            serveEnrollment(request)
        case .deny(let verdict, let explainOn):
            connection.logger.info(
                "request denied",
                metadata: [
                    "request.id": "\(exchange.requestID)", "peer.address": "\(connection.peerHost)",
                    "peer.principal": "\(connection.identity.principal ?? "-")",
                    "request.method": "\(head.method)",
                    "request.path": "\(EnrollmentRequest.redacted(plan.normalizedPath))",
                    "policy": "\(verdict.matchedPolicy ?? "none")",
                    "reason": "\(verdict.reason)",
                ])
            exchange.responseDetails = verdict.responseDetails ?? "-"
            if let explainOn {
                let page = ExplainPage.denied(verdict, identity: connection.identity, context: explain(explainOn))
                respond(status: 403, body: page.body, contentType: page.contentType)
            } else {
                respond(status: 403, body: Array("RBAC: access denied".utf8), contentType: "text/plain")
            }
        case .upgradeRefused(let name):
            connection.logger.info(
                "upgrade refused",
                metadata: [
                    "request.id": "\(exchange.requestID)", "upgrade": "\(name)",
                    "peer.address": "\(connection.peerHost)",
                ])
            keepAlive = false
            exchange.responseDetails = "upgrade_failed"
            respond(status: 403, body: nil)
        case .corsPreflight(let headers):
            exchange.responseDetails = "cors_preflight"
            respond(status: 200, body: nil, extraHeaders: headers)
        case .notFound:
            exchange.responseFlags = .noRouteFound
            exchange.responseDetails = "route_not_found"
            respond(status: 404, body: nil)
        case .redirect(let status, let location, let headerOperations):
            respond(
                status: status, body: nil, extraHeaders: [("location", location)], headerOperations: headerOperations)
        case .directResponse(let status, let body, let headerOperations):
            exchange.responseDetails = "direct_response"
            respond(
                status: status, body: body, contentType: body == nil ? nil : "text/plain",
                headerOperations: headerOperations)
        case .forward(let forward, let headerOperations):
            startForward(forward, headerOperations: headerOperations)
        }
    }
}

extension DownstreamConnection {
    func stillVerifiedAsConfigured(_ tls: TLSConnection, snapshot: ConfigSnapshot) -> Bool {
        guard let group = snapshot.listeners[listenPort]?.tls else { return false }
        if group === verifiedUnder { return true }
        guard let index = group.entryIndex(serverName: serverName) else { return false }
        let context = group.entries[index].context
        // Verified alike, or only the CRL changed and this client's certificate passes the new one.
        guard
            context.settings.verifiesClientsLike(tls.verificationSettings)
                || (context.settings.differsOnlyInRevocation(from: tls.verificationSettings)
                    && tls.clientStillPasses(context))
        else { return false }
        verifiedUnder = group
        return true
    }

    func requestBody(_ bytes: [UInt8]) {
        guard let exchange else { return }
        exchange.bytesReceived += bytes.count
        guard let upstream = exchange.upstream else {
            // Answered already: the body is read and dropped, within a bound.
            if exchange.responseComplete && exchange.bytesReceived > UnreadRequestBody.drainLimit {
                abortExchange(reason: "unread request body larger than \(UnreadRequestBody.drainLimit) bytes")
            }
            return
        }
        exchange.recordForReplay(bytes)
        upstream.write(exchange.requestBodyChunked ? MessageEncoder.chunk(bytes) : bytes)
        if !upstream.isWritable { setReadPaused(.upstreamBackpressure, true) }
    }

    func requestEnd() {
        guard let exchange else { return }
        exchange.requestEnded()
        if exchange.requestBodyChunked, let upstream = exchange.upstream {
            upstream.write(MessageEncoder.lastChunk)
        }
        if exchange.responseComplete { finishExchange() }
    }

    /// Answers from the gateway itself. When the request has not ended yet, the rest of a small body is
    /// read and dropped afterwards and the connection kept (`requestEnd` finishes the exchange); otherwise
    /// the connection closes, so no leftover bytes are mistaken for a next request.
    func respondLocally(
        status: Int, body: [UInt8]?, contentType: String? = nil, extraHeaders: [(String, String)] = [],
        headerOperations: HeaderOperations = HeaderOperations()
    ) {
        guard let exchange else { return }
        if !exchange.requestComplete,
            !UnreadRequestBody.mayDrain(
                declaredLength: exchange.declaredBodyLength, bytesRead: exchange.bytesReceived,
                awaitingContinue: exchange.expectsContinue && !exchange.continueSent)
        {
            keepAlive = false
        }
        var headers = HTTPHeaders([("date", loop.httpDate()), ("server", GatewayRuntime.serverName)])
        for (name, value) in extraHeaders { headers.add(name, value) }
        if let contentType { headers.add("content-type", contentType) }
        headers.add("content-length", String(body?.count ?? 0))
        HeaderEditor.apply(headerOperations.response, to: &headers)
        if let connection = HopByHop.connectionField(keepAlive: keepAlive, clientVersion: exchange.head.version) {
            headers.set("connection", connection)
        }
        let response = ResponseHead(status: status, headers: headers)
        var bytes = MessageEncoder.encode(response)
        if let body, !exchange.isHead { bytes += body }
        exchange.status = status
        exchange.responseEnded()
        exchange.bytesSent += body?.count ?? 0
        channel.write(bytes)
        if exchange.requestComplete || !keepAlive {
            finishExchange()
        } else {
            // Drain the rest; reading may have been paused for an upstream that is gone now.
            setReadPaused(.upstreamBackpressure, false)
        }
    }
}
