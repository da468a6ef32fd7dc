import HTTP1
import TollgateCore
import TollgatePlanner

extension DownstreamConnection {
    /// The upstream agreed to the WebSocket upgrade: relay its `101` and turn both connections into a
    /// tunnel. Bytes the client sent after its request were held in the decoder (never forwarded before
    /// the upstream agreed) and now go first.
    func beginTunnel(_ response: ResponseHead, _ exchange: Exchange, _ upstream: UpstreamConnection) {
        // The route timeout covers the upgrade response only, as in Envoy; the stream idle timeout stays.
        exchange.cancelTimers()
        var headers = response.headers
        HopByHop.strip(&headers)
        headers.remove("content-length")
        headers.set("server", GatewayRuntime.serverName)
        if !headers.contains("date") { headers.add("date", loop.httpDate()) }
        HeaderEditor.apply(exchange.headerOperations.response, to: &headers)
        headers.set("connection", "upgrade")
        headers.set("upgrade", response.headers.combined("upgrade") ?? "websocket")
        exchange.status = 101
        exchange.responseDetails = "via_upstream"
        exchange.responseHeadSent()
        channel.write(
            MessageEncoder.encode(
                ResponseHead(status: 101, reason: response.reason.isEmpty ? nil : response.reason, headers: headers)))
        exchange.upstream = nil
        self.exchange = nil
        let tunnel = Tunnel(downstream: self, upstream: upstream, exchange: exchange)
        self.tunnel = tunnel
        runtime.metrics.websocketUpgrades.increment()
        runtime.metrics.websocketTunnelsActive.increment()
        logger.debug(
            "websocket tunnel open",
            metadata: [
                "request.id": "\(exchange.requestID)", "upstream.host": "\(exchange.upstreamHost)",
                "peer.principal": "\(identity.principal ?? "-")",
            ])
        setReadPaused(.pipelined, false)
        let early = decoder.takeUnparsedBytes()
        if !early.isEmpty { tunnel.fromClient(early) }
        if peerFinishedSending { tunnel.clientEnded() }
    }

    /// Called once by the tunnel as it ends: its access log line (status 101, bytes both ways, duration).
    func tunnelEnded(_ ended: Tunnel) {
        guard tunnel === ended else { return }
        tunnel = nil
        runtime.metrics.websocketTunnelsActive.decrement()
        logAccess(ended.exchange)
        requestsServed += 1
        // Ended gracefully, what is queued for the client is still written: only for as long as the stream
        // idle timeout, since a client that stopped reading would keep its connection open forever.
        armTimer(runtime.settings.streamIdleTimeout, reason: "the client does not read the tunnel's end")
        logger.debug(
            "websocket tunnel closed",
            metadata: [
                "request.id": "\(ended.exchange.requestID)", "details": "\(ended.exchange.responseDetails)",
            ])
    }
}
