import HTTP1
import TollgateCore
import TollgatePlanner

extension ExchangeOwner {
    /// The upstream agreed to the WebSocket upgrade: the exchange is now a tunnel's, logged as `101` however
    /// the client is told, and these are the upstream's response fields the client gets with it.
    func acceptUpgrade(_ response: ResponseHead, _ exchange: Exchange) -> HTTPHeaders {
        // The route timeout covers the upgrade response only, as in Envoy; the stream idle timeout stays.
        exchange.cancelTimers()
        var headers = response.headers
        HopByHop.strip(&headers)
        headers.remove("content-length")
        headers.set("server", GatewayRuntime.serverName)
        if !headers.contains("date") { headers.add("date", connection.loop.httpDate()) }
        HeaderEditor.apply(exchange.headerOperations.response, to: &headers)
        exchange.status = 101
        exchange.responseDetails = "via_upstream"
        exchange.responseHeadSent()
        return headers
    }
}

extension DownstreamConnection: TunnelClient {
    /// The upstream agreed to the WebSocket upgrade: relay its `101` and turn both connections into a
    /// tunnel. Bytes the client sent after its request were held in the decoder (never forwarded before
    /// the upstream agreed) and now go first.
    func beginTunnel(_ response: ResponseHead, _ exchange: Exchange, _ upstream: UpstreamConnection) {
        var headers = acceptUpgrade(response, exchange)
        headers.set("connection", "upgrade")
        headers.set("upgrade", response.headers.combined("upgrade") ?? "websocket")
        channel.write(
            MessageEncoder.encode(
                ResponseHead(status: 101, reason: response.reason.isEmpty ? nil : response.reason, headers: headers)))
        exchange.upstream = nil
        self.exchange = nil
        let tunnel = Tunnel(client: self, upstream: upstream, exchange: exchange)
        self.tunnel = tunnel
        setReadPaused(.pipelined, false)
        let early = decoder.takeUnparsedBytes()
        if !early.isEmpty { tunnel.fromClient(early) }
        if peerFinishedSending { tunnel.clientEnded() }
    }

    func tunnelSend(_ bytes: [UInt8]) -> Bool {
        lastActivityNanos = Clock.nowNanos()
        channel.write(bytes)
        return channel.isWritable
    }

    func tunnelUpstreamBackedUp(_ backedUp: Bool) {
        setReadPaused(.upstreamBackpressure, backedUp)
    }

    func tunnelFinishSending() {
        channel.shutdownOutputAfterFlush()
    }

    func tunnelEnded(_ ended: Tunnel, graceful: Bool) {
        guard tunnel === ended else { return }
        tunnel = nil
        requestsServed += 1
        // Ended gracefully, what is queued for the client is still written: only for as long as the stream
        // idle timeout, since a client that stopped reading would keep its connection open forever.
        armTimer(runtime.settings.streamIdleTimeout, reason: "the client does not read the tunnel's end")
        if graceful { channel.closeAfterFlush() } else { channel.close() }
    }
}
