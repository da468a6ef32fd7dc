import HTTP1
import HTTP2
import TollgateConfig
import TollgateCore
import TollgatePlanner

/// One HTTP/2 stream: one request, planned and carried out like an HTTP/1.1 request (`ExchangeOwner`), with
/// an HTTP/1.1 upstream from the loop's pool. Confined to the connection's loop.
///
/// Flow control is tied to the upstream: request DATA is acknowledged to the client (WINDOW_UPDATE) only
/// once the upstream connection takes it without backing up, and the upstream is read only while this
/// stream's unsent response bytes stay under `HTTP2Downstream.responseHighWater`. An extended CONNECT
/// (RFC 8441) becomes a `Tunnel` once its upstream agrees, with the same flow control (HTTP2Stream+Tunnel).
final class HTTP2Stream: ExchangeOwner, @unchecked Sendable {
    let id: Int32
    unowned let owner: HTTP2Downstream
    var exchange: Exchange?
    var keepAlive = true
    /// Request body bytes written to an upstream that was backed up: acknowledged once it drains.
    var unacknowledged = 0
    var upstreamPaused = false
    var lastActivityNanos = Clock.nowNanos()
    /// Reset by the idle sweep after its exchange was over (`HTTP2Downstream.sweep`).
    var idleReset = false
    private var bufferedAtLastSweep = 0
    /// Request body bytes read and dropped after the exchange was answered (`UnreadRequestBody.drainLimit`).
    private var unreadBytes = 0
    /// After the upstream's `101` to an extended CONNECT: the stream's DATA is the tunnel's, both ways.
    var tunnel: Tunnel?
    /// The `Sec-WebSocket-Key` the gateway sent upstream for this stream's extended CONNECT.
    var webSocketKey: String?
    /// Tunnel bytes the client sent before the upstream agreed: held (and not acknowledged) until it does.
    var heldClientBytes: [UInt8] = []
    /// END_STREAM arrived before the tunnel opened.
    var clientFinished = false
    /// nghttp2 closed the stream: nothing more may be submitted on it.
    private(set) var closed = false
    /// What pays for the upstream socket this stream's exchange or tunnel holds (`takeUpstreamAllowance`).
    private var upstreamAllowance = UpstreamAllowance.none

    var connection: DownstreamConnection { owner.connection }
    var session: HTTP2ServerSession { owner.session }

    init(id: Int32, owner: HTTP2Downstream) {
        self.id = id
        self.owner = owner
    }

    func begin(_ head: Result<RequestHead, HTTPParseError>, endStream: Bool) {
        switch head {
        case .failure(let error):
            requestMalformed(error)
        case .success(let head):
            guard let planned = connection.planRequest(head) else { return }
            if planned.plan.upgrade == .websocket {
                // An extended CONNECT has no request body: its DATA is the tunnel's.
                carryOut(withWebSocketKey(planned), requestBodyChunked: false)
                exchange?.requestEnded()
                if endStream { clientFinished = true }
                return
            }
            // No length and more to come: the body goes upstream chunked (RFC 9113 §8.1.1).
            carryOut(planned, requestBodyChunked: !endStream && head.headers["content-length"] == nil)
            if endStream { requestEnd() }
        }
    }

    func requestBody(_ bytes: [UInt8]) {
        lastActivityNanos = Clock.nowNanos()
        if tunnelData(bytes) { return }
        // An extended CONNECT the upstream did not switch: its DATA never reaches that HTTP/1.1 connection, where
        // it would be read as a request pipelined behind the upgrade (WebSocket smuggling).
        guard let exchange, !exchange.responseComplete, !exchange.upgradesToWebSocket, let upstream = exchange.upstream
        else {
            dropUnread(bytes)
            return
        }
        exchange.bytesReceived += bytes.count
        exchange.recordForReplay(bytes)
        upstream.write(exchange.requestBodyChunked ? MessageEncoder.chunk(bytes) : bytes)
        acknowledge(bytes.count, taken: upstream.isWritable)
    }

    /// Request bytes passed on: acknowledged to the client at once when the upstream took them without backing
    /// up and nothing before them waits, else held until `acknowledgeHeld`.
    func acknowledge(_ count: Int, taken: Bool) {
        if taken && unacknowledged == 0 {
            session.consume(streamID: id, count)
        } else {
            unacknowledged += count
        }
    }

    /// The client may send what was held back (the upstream drained, or the exchange or tunnel ended).
    func acknowledgeHeld() {
        guard unacknowledged > 0 else { return }
        session.consume(streamID: id, unacknowledged)
        unacknowledged = 0
    }

    func requestEnd() {
        if tunnelEnd() { return }
        guard let exchange, !exchange.requestComplete else { return }
        exchange.requestEnded()
        if exchange.requestBodyChunked, let upstream = exchange.upstream { upstream.write(MessageEncoder.lastChunk) }
    }

    /// Answered already (or refused): the rest of the body is read and dropped, as over HTTP/1.1 only up to
    /// `UnreadRequestBody.drainLimit`; past it the stream is reset (RFC 9113 §8.1: NO_ERROR, the response is
    /// complete) so the client stops sending.
    private func dropUnread(_ bytes: [UInt8]) {
        exchange?.bytesReceived += bytes.count
        session.consume(streamID: id, bytes.count)
        let before = unreadBytes
        unreadBytes += bytes.count
        guard before <= UnreadRequestBody.drainLimit, unreadBytes > UnreadRequestBody.drainLimit, !closed else {
            return
        }
        connection.logger.info(
            "unread request body over the limit: stream reset",
            metadata: [
                "connection.id": "\(connection.id)", "stream.id": "\(id)", "peer.address": "\(connection.peerHost)",
            ])
        finish(closingUpstream: true)
        session.reset(streamID: id, errorCode: HTTP2ServerSession.noError)
    }

    /// nghttp2 closed the stream: answered and sent, or reset by the client, or the connection ended.
    func streamClosed(errorCode: UInt32) {
        closed = true
        defer { releaseUpstreamAllowance() }
        if let tunnel {
            tunnel.clientGone(flags: .downstreamRemoteReset)
            return
        }
        guard let exchange else { return }
        if exchange.responseFlags.isEmpty { exchange.responseFlags = .downstreamRemoteReset }
        exchange.responseDetails = "downstream_remote_reset"
        finish(closingUpstream: true)
    }

    /// Logs the exchange once and lets go of its upstream; the stream stays until nghttp2 closes it.
    private func finish(closingUpstream: Bool) {
        guard let exchange else { return }
        exchange.cancelTimers()
        if closingUpstream {
            exchange.upstream?.close()
            exchange.upstream = nil
        }
        connection.logAccess(exchange)
        self.exchange = nil
        releaseUpstreamAllowance()
        acknowledgeHeld()
    }

    /// Response bytes taken by the client since the last sweep count as activity: a slow reader is not idle.
    func noteResponseProgress(now: UInt64) {
        let buffered = session.bufferedResponseBytes(streamID: id)
        if buffered < bufferedAtLastSweep { lastActivityNanos = now }
        bufferedAtLastSweep = buffered
    }

    func resumeUpstreamIfRoom() {
        guard upstreamPaused, session.bufferedResponseBytes(streamID: id) < HTTP2Downstream.responseLowWater else {
            return
        }
        upstreamPaused = false
        if let tunnel {
            tunnel.downstreamWritabilityChanged(writable: true)
        } else {
            exchange?.upstream?.resumeReading()
        }
    }

    enum UpstreamAllowance {
        case none
        /// The one upstream socket the client connection's own slot stands for.
        case connectionSlot
        /// A slot of `--max-connections` of its own (`GatewayRuntime.admitExtraUpstream`).
        case extraSlot
    }

    /// One connection can have 100 streams waiting on upstreams, each holding a socket there: past the one its
    /// own slot stands for (an HTTP/1.1 connection's one upstream), each takes a slot of `--max-connections`, so a
    /// client cannot spend the descriptors kept for listeners, configuration and CRLs. Held until the exchange
    /// ends, the tunnel ends or the stream closes; once per stream, whatever the retries. False when none is free.
    func takeUpstreamAllowance() -> Bool {
        guard case .none = upstreamAllowance else { return true }
        if !owner.connectionSlotUpstreamTaken {
            owner.connectionSlotUpstreamTaken = true
            upstreamAllowance = .connectionSlot
        } else if connection.runtime.admitExtraUpstream() {
            upstreamAllowance = .extraSlot
        } else {
            return false
        }
        return true
    }

    func releaseUpstreamAllowance() {
        switch upstreamAllowance {
        case .none: return
        case .connectionSlot: owner.connectionSlotUpstreamTaken = false
        case .extraSlot: connection.runtime.extraUpstreamReleased()
        }
        upstreamAllowance = .none
    }

    // MARK: ExchangeOwner

    func respondLocally(
        status: Int, body: [UInt8]?, contentType: String?, extraHeaders: [(String, String)],
        headerOperations: HeaderOperations
    ) {
        guard let exchange else { return }
        var headers = HTTPHeaders([("date", connection.loop.httpDate()), ("server", GatewayRuntime.serverName)])
        for (name, value) in extraHeaders { headers.add(name, value) }
        if let contentType { headers.add("content-type", contentType) }
        headers.add("content-length", String(body?.count ?? 0))
        HeaderEditor.apply(headerOperations.response, to: &headers)
        let sendsBody = !(body ?? []).isEmpty && !exchange.isHead
        session.respond(streamID: id, status: status, headers: headers, hasBody: sendsBody)
        if sendsBody, let body {
            session.sendBody(streamID: id, body)
            session.endBody(streamID: id)
        }
        exchange.status = status
        exchange.responseEnded()
        exchange.bytesSent += body?.count ?? 0
        finish(closingUpstream: true)
        owner.flush()
    }

    func abortExchange(reason: String) {
        connection.logger.debug(
            "http/2 stream aborted",
            metadata: ["connection.id": "\(connection.id)", "stream.id": "\(id)", "reason": "\(reason)"])
        finish(closingUpstream: true)
        session.reset(streamID: id)
        owner.flush()
    }

    func requestMalformed(_ error: HTTPParseError) {
        connection.logger.info(
            "malformed request",
            metadata: [
                "connection.id": "\(connection.id)", "stream.id": "\(id)", "peer.address": "\(connection.peerHost)",
                "reason": "\(error.reason)",
            ])
        if let exchange {
            if exchange.responseStarted {
                abortExchange(reason: "malformed request: \(error.reason)")
                return
            }
            exchange.upstream?.close()
            exchange.upstream = nil
        } else {
            exchange = Exchange(
                head: RequestHead(method: "-", target: "-", version: .http2, headers: HTTPHeaders()),
                snapshot: connection.runtime.current, startNanos: Clock.nowNanos(), requestID: Clock.uuid(),
                normalizedPath: "-")
        }
        exchange?.responseFlags = .downstreamProtocolError
        exchange?.responseDetails = "downstream_protocol_error"
        // RFC 6455 §4.4 (RFC 8441 §5 keeps it): a refused WebSocket version is answered with the one understood.
        respond(
            status: error.status, body: Array("\(error.reason)\n".utf8),
            extraHeaders: error.status == 426 ? [("sec-websocket-version", "13")] : [])
    }

    func sendContinue() {
        session.sendContinue(streamID: id)
        exchange?.continueSent = true
    }

    // MARK: UpstreamDelegate

    func upstreamConnected(_ upstream: UpstreamConnection) {}

    func upstream(_ upstream: UpstreamConnection, didFail failure: UpstreamFailure) {
        guard exchange?.upstream === upstream else { return }
        upstreamFailed(failure, reused: upstream.isReused)
        owner.flush()
    }

    func upstreamWritabilityChanged(_ upstream: UpstreamConnection, writable: Bool) {
        guard writable, unacknowledged > 0 else { return }
        acknowledgeHeld()
        owner.flush()
    }

    func upstream(_ upstream: UpstreamConnection, didReceive event: MessageEvent<ResponseHead>) {
        guard let exchange, exchange.upstream === upstream else { return }
        lastActivityNanos = Clock.nowNanos()
        switch event {
        case .head(let head):
            if retried(onStatus: head.status, from: upstream, exchange) { return }
            if !upgradeAnswered(head, exchange, upstream) { sendResponseHead(head, exchange, upstream) }
        case .body(let bytes):
            exchange.bytesSent += bytes.count
            guard !exchange.isHead else { return }
            session.sendBody(streamID: id, bytes)
            if session.bufferedResponseBytes(streamID: id) > HTTP2Downstream.responseHighWater {
                upstreamPaused = true
                upstream.pauseReading()
            }
        case .end:
            upstreamResponseEnded(upstream, exchange)
            session.endBody(streamID: id)
            finish(closingUpstream: false)
        }
        owner.flush()
    }

    private func sendResponseHead(_ upstreamHead: ResponseHead, _ exchange: Exchange, _ upstream: UpstreamConnection) {
        // HTTP/2 has no transfer codings (RFC 9113 §8.2.2): like an HTTP/1.0 client, an h2 client gets the body
        // delimited by its end (END_STREAM), and a coding other than chunked cannot be passed on unlabelled (502).
        // 1xx/204/304 lose their framing fields and a HEAD keeps the length a GET would have, as for HTTP/1.1.
        let framing: ResponseFraming.Plan
        do {
            framing = try ResponseFraming.plan(
                upstreamHead, requestMethod: exchange.head.method, clientVersion: .http10)
        } catch {
            upstreamBrokeProtocol(upstream, exchange, detail: "\(error)")
            return
        }
        var headers = framing.headers
        addGatewayResponseFields(&headers, exchange)
        let status = upstreamHead.status
        exchange.status = status
        exchange.responseDetails = "via_upstream"
        exchange.responseHeadSent()
        session.respond(
            streamID: id, status: status, headers: headers,
            hasBody: !exchange.isHead && status != 204 && status != 304)
    }
}
