import HTTP1
import HTTP2
import TollgateCore
import TollgatePlanner
import TollgateTLS

/// WebSocket over HTTP/2 (RFC 8441): an extended CONNECT is sent upstream as the HTTP/1.1 upgrade it stands
/// for, with a key the gateway makes (HTTP/2 has none) and whose answer it checks; the upstream's `101`
/// becomes `:status 200` and a `Tunnel` whose client side is this stream's DATA.
///
/// Flow control stays tied to backpressure both ways: the client's DATA is acknowledged only as the
/// upstream's socket takes it, and the upstream is read only while the stream's unsent bytes stay under
/// `HTTP2Downstream.responseHighWater`. END_STREAM from the client half-closes the upstream; the upstream's
/// EOF is END_STREAM (and RST_STREAM NO_ERROR if the client has not ended by then); a reset or a failure on
/// either side ends both.
extension HTTP2Stream: TunnelClient {
    /// The plan with a fresh `Sec-WebSocket-Key` (RFC 6455 §4.1: 16 random bytes, base64) for the upstream, and
    /// without any `Sec-WebSocket-Accept` the client put in a request, where it has no meaning.
    func withWebSocketKey(_ planned: PlannedRequest) -> PlannedRequest {
        var bytes: [UInt8] = []
        for _ in 0..<2 { withUnsafeBytes(of: RandomPool.shared.next()) { bytes += $0 } }
        let key = Base64.encode(bytes)
        webSocketKey = key
        let plan = planned.plan
        plan.head.headers.set("sec-websocket-key", key)
        plan.head.headers.remove("sec-websocket-accept")
        return PlannedRequest(plan: plan, snapshot: planned.snapshot)
    }

    /// DATA of an extended CONNECT: the tunnel's, or held until the upstream answers (bounded like an unread
    /// body, and by the stream's window since none of it is acknowledged). False for any other stream.
    func tunnelData(_ bytes: [UInt8]) -> Bool {
        if let tunnel {
            tunnel.fromClient(bytes)
            acknowledge(bytes.count, taken: tunnel.upstreamIsWritable)
            return true
        }
        guard let exchange, exchange.upgradesToWebSocket, !exchange.responseStarted else { return false }
        heldClientBytes += bytes
        unacknowledged += bytes.count
        if heldClientBytes.count > UnreadRequestBody.drainLimit {
            abortExchange(reason: "more than \(UnreadRequestBody.drainLimit) bytes before the WebSocket opened")
        }
        return true
    }

    /// END_STREAM of an extended CONNECT: half-closes the tunnel, or is remembered until it opens.
    func tunnelEnd() -> Bool {
        if let tunnel {
            tunnel.clientEnded()
            return true
        }
        guard exchange?.upgradesToWebSocket == true else { return false }
        clientFinished = true
        return true
    }

    /// The upstream's answer to an extended CONNECT, when it is not passed on as it is: a `101` opens the tunnel,
    /// and a 2xx that switched nothing is a `502`, since over HTTP/2 a 2xx would tell the client the tunnel is
    /// open (RFC 8441 §5). False for anything else (a `400`, a `426`…, relayed as an ordinary response).
    func upgradeAnswered(_ response: ResponseHead, _ exchange: Exchange, _ upstream: UpstreamConnection) -> Bool {
        if response.status == 101 {
            openTunnel(response, exchange, upstream)
            return true
        }
        guard exchange.upgradesToWebSocket, (200..<300).contains(response.status) else { return false }
        upstreamBrokeProtocol(upstream, exchange, detail: "\(response.status) to a WebSocket upgrade")
        return true
    }

    /// The upstream's `101`: only with the accept that answers the gateway's key (RFC 6455 §4.1, which a
    /// browser checks over HTTP/1.1 and cannot over HTTP/2) does the stream become a tunnel.
    private func openTunnel(_ response: ResponseHead, _ exchange: Exchange, _ upstream: UpstreamConnection) {
        guard let key = webSocketKey,
            response.headers.values("sec-websocket-accept") == [WebSocketAccept.value(forKey: key)]
        else {
            upstreamBrokeProtocol(upstream, exchange, detail: "Sec-WebSocket-Accept does not answer the key")
            return
        }
        var headers = acceptUpgrade(response, exchange)
        headers.remove("sec-websocket-accept")
        session.respond(streamID: id, status: 200, headers: headers, hasBody: true)
        exchange.upstream = nil
        self.exchange = nil
        let tunnel = Tunnel(client: self, upstream: upstream, exchange: exchange)
        self.tunnel = tunnel
        if !heldClientBytes.isEmpty {
            let held = heldClientBytes
            heldClientBytes = []
            tunnel.fromClient(held)
        }
        if tunnel.upstreamIsWritable { tunnelUpstreamBackedUp(false) }
        if clientFinished { tunnel.clientEnded() }
    }

    // MARK: TunnelClient

    func tunnelSend(_ bytes: [UInt8]) -> Bool {
        lastActivityNanos = Clock.nowNanos()
        session.sendBody(streamID: id, bytes)
        owner.flush()
        let room = session.bufferedResponseBytes(streamID: id) <= HTTP2Downstream.responseHighWater
        if !room { upstreamPaused = true }
        return room
    }

    func tunnelUpstreamBackedUp(_ backedUp: Bool) {
        guard !backedUp, unacknowledged > 0 else { return }
        acknowledgeHeld()
        owner.flush()
    }

    /// The upstream's EOF: END_STREAM once what it sent has gone. A WebSocket upstream closes only after the
    /// close handshake, so a client that does not end its side then (Firefox does not) has its stream reset
    /// with NO_ERROR rather than kept, with the upstream's socket, until the stream idle timeout.
    func tunnelFinishSending() {
        session.endAfterResponse(streamID: id)
        session.endBody(streamID: id)
        owner.flush()
    }

    func tunnelEnded(_ ended: Tunnel, graceful: Bool) {
        guard tunnel === ended else { return }
        tunnel = nil
        releaseUpstreamAllowance()
        acknowledgeHeld()
        // Gracefully both sides sent END_STREAM and nghttp2 closes the stream; otherwise it is reset.
        if !graceful && !closed { session.reset(streamID: id, errorCode: HTTP2ServerSession.cancel) }
        owner.flush()
    }
}
