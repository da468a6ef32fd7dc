import HTTP1
import TollgateConfig
import TollgateCore
import TollgatePlanner
import TollgateRouting

extension ExchangeOwner {
    /// Chooses a destination and cluster, prepares the upstream request head, and makes the first attempt.
    func startForward(_ plan: ForwardPlan, headerOperations: HeaderOperations) {
        guard let exchange else { return }
        let destination = plan.pick(random: RandomPool.shared.next() % UInt64.max)
        exchange.plan = plan
        exchange.destinationHost = destination.destination.host
        guard let cluster = exchange.snapshot.upstreams.cluster(for: destination.destination) else {
            exchange.responseFlags = .noClusterFound
            exchange.responseDetails = "cluster_not_found"
            respond(status: 503, body: nil)
            return
        }
        guard !cluster.endpoints.isEmpty else {
            exchange.responseFlags = .noHealthyUpstream
            exchange.responseDetails = "no_healthy_upstream"
            respond(status: 503, body: Array("no healthy upstream".utf8), contentType: "text/plain")
            return
        }
        exchange.cluster = cluster
        let clientCertElement = connection.clientCertElement(under: exchange.snapshot)
        var headers = exchange.head.headers
        // One copy of the client's fields, with room for the fields added below (an XFCC element is kilobytes).
        headers.reserveCapacity(
            addingBytes: 256 + plan.authority.utf8.count + (clientCertElement?.utf8.count ?? 0), fields: 10)
        HopByHop.strip(&headers)
        if exchange.upgradesToWebSocket {
            // The one hop-by-hop pair passed on: the upstream must see the upgrade to agree to it.
            headers.add("connection", "upgrade")
            headers.add("upgrade", exchange.head.headers.combined("upgrade") ?? "websocket")
        }
        headers.remove("expect")
        headers.remove("content-length")
        ForwardedHeaders.apply(
            to: &headers,
            ForwardedHeaders.Context(
                peerAddress: connection.peerHost, scheme: connection.scheme,
                clientCertElement: clientCertElement,
                requestID: exchange.requestID, trustedProxies: connection.runtime.settings.trustedProxies))
        headers.set("host", plan.authority)
        HeaderEditor.apply(headerOperations.request, to: &headers)
        HeaderEditor.apply(destination.headers.request, to: &headers)
        if exchange.requestBodyChunked {
            headers.add("transfer-encoding", "chunked")
        } else if let length = exchange.head.headers["content-length"] {
            headers.add("content-length", length)
        }
        if let timeout = plan.timeoutMilliseconds, timeout > 0 {
            headers.set("x-envoy-expected-rq-timeout-ms", String(timeout))
        }
        var response = HeaderOperations()
        response.response = headerOperations.response
        response.response.set += destination.headers.response.set
        response.response.add += destination.headers.response.add
        response.response.remove += destination.headers.response.remove
        exchange.headerOperations = response
        exchange.upstreamHead = MessageEncoder.encode(
            RequestHead(method: exchange.head.method, target: plan.target, headers: headers))
        if exchange.expectsContinue && !exchange.requestComplete {
            sendContinue()
        }
        if let timeout = plan.timeoutMilliseconds, timeout > 0 {
            exchange.routeTimer = connection.loop.schedule(afterMilliseconds: timeout) { [weak self, weak exchange] in
                guard let self, let exchange, self.exchange === exchange else { return }
                self.upstreamTimedOut(exchange)
            }
        }
        attemptUpstream()
    }

    /// Sends the request to an endpoint: a pooled connection when one is idle, else a new one.
    func attemptUpstream() {
        guard let exchange, let cluster = exchange.cluster, let plan = exchange.plan else { return }
        exchange.attempts += 1
        guard let endpoint = connection.loop.upstreamPool.pickEndpoint(cluster, avoid: exchange.triedEndpoints) else {
            return
        }
        exchange.triedEndpoints.append(endpoint)
        exchange.upstreamHost = endpoint.description
        if let stream = self as? HTTP2Stream, !stream.takeUpstreamAllowance() {
            exchange.responseFlags = .upstreamOverflow
            exchange.responseDetails = "upstream_reset_before_response_started{overflow}"
            respond(status: 503, body: Array("no connection slot free\n".utf8), contentType: "text/plain")
            return
        }
        let upstream: UpstreamConnection
        // An upgrade gets a connection of its own: after a 101 it is the tunnel's and never returns to the pool.
        if !exchange.upgradesToWebSocket, let pooled = connection.loop.upstreamPool.checkout(endpoint) {
            upstream = pooled
        } else {
            upstream = UpstreamConnection(
                endpoint: endpoint, loop: connection.loop, limits: connection.runtime.settings.limits)
            do {
                try upstream.connect(timeoutMilliseconds: connection.runtime.settings.connectTimeout)
            } catch let failure as UpstreamFailure {
                upstreamFailed(failure, reused: false)
                return
            } catch {
                upstreamFailed(UpstreamFailure(kind: .connectFailure, detail: "\(error)"), reused: false)
                return
            }
        }
        exchange.upstream = upstream
        upstream.begin(requestIsHead: exchange.isHead, expectsUpgrade: exchange.upgradesToWebSocket, delegate: self)
        upstream.write(exchange.upstreamHead)
        for piece in exchange.replay ?? [] {
            upstream.write(exchange.requestBodyChunked ? MessageEncoder.chunk(piece) : piece)
        }
        if exchange.requestComplete && exchange.requestBodyChunked { upstream.write(MessageEncoder.lastChunk) }
        exchange.tryTimer?.cancel()
        if let perTry = plan.retries.perTryTimeoutMilliseconds, perTry > 0,
            perTry < (plan.timeoutMilliseconds ?? Int.max)
        {
            exchange.tryTimer = connection.loop.schedule(afterMilliseconds: perTry) { [weak self, weak exchange] in
                guard let self, let exchange, self.exchange === exchange, !exchange.responseStarted else { return }
                if exchange.mayRetry(.perTryTimeout) {
                    exchange.upstream?.close()
                    exchange.upstream = nil
                    self.attemptUpstream()
                } else {
                    self.upstreamTimedOut(exchange)
                }
            }
        }
    }

    /// A status the route retries on ends this attempt and starts the next; otherwise the attempt's timer stops.
    func retried(onStatus status: Int, from upstream: UpstreamConnection, _ exchange: Exchange) -> Bool {
        guard exchange.mayRetry(status: status) else {
            exchange.tryTimer?.cancel()
            return false
        }
        upstream.close()
        exchange.upstream = nil
        attemptUpstream()
        return true
    }

    /// No byte either way for the stream idle timeout: `408` when nothing was answered yet, else the exchange ends.
    func streamIdleTimedOut() {
        guard let exchange else { return }
        exchange.responseFlags = .streamIdleTimeout
        exchange.responseDetails = "stream_idle_timeout"
        if exchange.responseStarted {
            abortExchange(reason: "stream idle timeout")
        } else {
            exchange.upstream?.close()
            exchange.upstream = nil
            exchange.cancelTimers()
            keepAlive = false
            respond(status: 408, body: Array("stream timeout".utf8), contentType: "text/plain")
        }
    }

    func upstreamTimedOut(_ exchange: Exchange) {
        exchange.upstream?.close()
        exchange.upstream = nil
        guard !exchange.responseStarted else {
            abortExchange(reason: "route timeout after the response started")
            return
        }
        exchange.responseFlags = .upstreamRequestTimeout
        exchange.responseDetails = "response_timeout"
        respond(status: 504, body: Array("upstream request timeout".utf8), contentType: "text/plain")
    }

    /// The upstream's answer broke HTTP (framing, or a WebSocket handshake it did not complete): its connection
    /// is dropped, never pooled, and the exchange fails as a protocol error (502 before the response started).
    func upstreamBrokeProtocol(_ upstream: UpstreamConnection, _ exchange: Exchange, detail: String) {
        upstream.close()
        exchange.upstream = nil
        upstreamFailed(UpstreamFailure(kind: .protocolError, detail: detail), reused: false)
    }

    /// The upstream's response ended: its connection goes back to the pool when it can carry another exchange
    /// (the request was read whole, the framing allows it), else it is closed.
    func upstreamResponseEnded(_ upstream: UpstreamConnection, _ exchange: Exchange) {
        exchange.responseEnded()
        exchange.upstream = nil
        let reusable = upstream.isReusable && exchange.requestComplete
        upstream.markExchangeFinished()
        if reusable { connection.loop.upstreamPool.checkin(upstream) } else { upstream.close() }
    }

    /// The fields the gateway sets on every forwarded response head, whatever carries it.
    func addGatewayResponseFields(_ headers: inout HTTPHeaders, _ exchange: Exchange) {
        headers.set("server", GatewayRuntime.serverName)
        if !headers.contains("date") { headers.add("date", connection.loop.httpDate()) }
        HeaderEditor.apply(exchange.headerOperations.response, to: &headers)
    }

    func upstreamFailed(_ failure: UpstreamFailure, reused: Bool) {
        guard let exchange else { return }
        exchange.upstream = nil
        if exchange.responseStarted {
            exchange.responseFlags = .upstreamConnectionTermination
            abortExchange(reason: "upstream failed mid-response: \(failure.resetReason)")
            return
        }
        if exchange.mayRetry(failure.retryCause, reusedConnection: reused) {
            connection.logger.debug(
                "retrying upstream",
                metadata: [
                    "request.id": "\(exchange.requestID)", "reason": "\(failure.resetReason)",
                    "attempt": "\(exchange.attempts + 1)",
                ])
            attemptUpstream()
            return
        }
        let retried = exchange.attempts > 1
        var body =
            "upstream connect error or disconnect/reset before headers. \(retried ? "retried and the latest " : "")reset reason: \(failure.resetReason)"
        if let detail = failure.detail { body += ", transport failure reason: \(detail)" }
        let status = failure.kind == .protocolError ? 502 : 503
        exchange.responseFlags =
            failure.kind == .protocolError
            ? .upstreamProtocolError
            : (failure.kind == .connectionTermination ? .upstreamConnectionTermination : .upstreamConnectionFailure)
        if retried { exchange.responseFlags.insert(.upstreamRetryLimitExceeded) }
        exchange.responseDetails = "upstream_reset_before_response_started{\(failure.resetReason.replacingSpaces())}"
        connection.logger.info(
            "upstream failed",
            metadata: [
                "request.id": "\(exchange.requestID)", "upstream.host": "\(exchange.upstreamHost)",
                "reason": "\(failure.resetReason)", "detail": "\(failure.detail ?? "-")",
            ])
        respond(status: status, body: Array(body.utf8), contentType: "text/plain")
    }
}

extension DownstreamConnection: ExchangeOwner {
    var connection: DownstreamConnection { self }

    func sendContinue() {
        channel.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        exchange?.continueSent = true
    }

    // MARK: UpstreamDelegate

    func upstreamConnected(_ upstream: UpstreamConnection) {}

    func upstream(_ upstream: UpstreamConnection, didFail failure: UpstreamFailure) {
        guard exchange?.upstream === upstream else { return }
        upstreamFailed(failure, reused: upstream.isReused)
    }

    func upstreamWritabilityChanged(_ upstream: UpstreamConnection, writable: Bool) {
        setReadPaused(.upstreamBackpressure, !writable)
    }

    func upstream(_ upstream: UpstreamConnection, didReceive event: MessageEvent<ResponseHead>) {
        guard let exchange, exchange.upstream === upstream else { return }
        lastActivityNanos = Clock.nowNanos()
        switch event {
        case .head(let head):
            if retried(onStatus: head.status, from: upstream, exchange) { return }
            if head.status == 101 {
                beginTunnel(head, exchange, upstream)
                return
            }
            do {
                try sendResponseHead(head, exchange)
            } catch {
                upstreamBrokeProtocol(upstream, exchange, detail: "\(error)")
            }
        case .body(let bytes):
            exchange.bytesSent += bytes.count
            guard !exchange.isHead else { return }
            channel.write(exchange.responseChunked ? MessageEncoder.chunk(bytes) : bytes)
            if !channel.isWritable { upstream.pauseReading() }
        case .end:
            if exchange.responseChunked { channel.write(MessageEncoder.lastChunk) }
            upstreamResponseEnded(upstream, exchange)
            if exchange.requestComplete {
                finishExchange()
            } else {
                // The upstream answered before the request body ended: finish and drop the connection.
                keepAlive = false
                finishExchange()
            }
        }
    }

    private func sendResponseHead(_ upstreamHead: ResponseHead, _ exchange: Exchange) throws {
        let framing = try ResponseFraming.framing(
            upstreamHead, requestMethod: exchange.head.method, clientVersion: exchange.head.version)
        exchange.responseChunked = framing.chunked
        if framing.delimitedByClose { keepAlive = false }
        let connectionField = HopByHop.connectionField(keepAlive: keepAlive, clientVersion: exchange.head.version)
        let bytes: [UInt8]
        if exchange.headerOperations.response.isEmpty {
            // Most responses: the upstream's head re-encoded in one pass, with room for a small body after it.
            let smallBody = framing.fieldName == "content-length" ? Int(framing.fieldValue) ?? 0 : 0
            bytes = ResponseFraming.encodeForwarded(
                upstreamHead, framing: framing, server: GatewayRuntime.serverName, date: { loop.httpDate() },
                connection: connectionField, spareCapacity: smallBody <= 4096 && !exchange.isHead ? smallBody : 0)
        } else {
            var headers = try ResponseFraming.plan(
                upstreamHead, requestMethod: exchange.head.method, clientVersion: exchange.head.version
            ).headers
            addGatewayResponseFields(&headers, exchange)
            if let connectionField { headers.set("connection", connectionField) }
            bytes = MessageEncoder.encode(
                ResponseHead(
                    status: upstreamHead.status, reason: upstreamHead.reason.isEmpty ? nil : upstreamHead.reason,
                    headers: headers))
        }
        exchange.status = upstreamHead.status
        exchange.responseDetails = "via_upstream"
        exchange.responseHeadSent()
        channel.write(bytes)
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

extension String {
    func replacingSpaces() -> String { String(map { $0 == " " ? "_" : $0 }) }
}
