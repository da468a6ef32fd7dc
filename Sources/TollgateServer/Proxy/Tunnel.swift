import HTTP1
import TollgateCore
import TollgateTLS

/// The client side of a `Tunnel`: an HTTP/1.1 connection after its `101`, or one HTTP/2 stream after its `200`
/// (RFC 8441). Called on the connection's loop.
protocol TunnelClient: ExchangeOwner {
    /// Queues bytes for the client; false once its queue is above its high-water mark, so the tunnel stops
    /// reading the upstream until `Tunnel.downstreamWritabilityChanged(writable: true)`.
    func tunnelSend(_ bytes: [UInt8]) -> Bool
    /// The upstream's socket backed up (true) or drained (false): stop or resume taking the client's bytes.
    func tunnelUpstreamBackedUp(_ backedUp: Bool)
    /// The upstream finished sending: the client's side is half-closed once what is queued has gone.
    func tunnelFinishSending()
    /// The tunnel ended (once): gracefully, what is queued still goes out; otherwise the client's side is cut.
    func tunnelEnded(_ tunnel: Tunnel, graceful: Bool)
}

/// A WebSocket connection after the upstream's `101 Switching Protocols` (RFC 9110 §7.8, RFC 6455 §4.1):
/// bytes are copied both ways unparsed until both sides have finished. Confined to the loop of its client
/// (an HTTP/1.1 connection or an HTTP/2 stream), which owns it; it is the handler of the upstream socket.
///
/// Invariants: a side's reads are paused while the other side's outbound queue is above its high-water
/// mark (each side's memory is bounded by its queue); one side's EOF half-closes the other and the tunnel
/// ends when both have sent theirs, or at once when either fails. `end` runs once: it writes the tunnel's
/// access log line and keeps `tollgate_websocket_tunnels_active` exact.
final class Tunnel: ChannelHandler, @unchecked Sendable {
    private weak var client: (any TunnelClient)?
    private let runtime: GatewayRuntime
    let upstream: Channel
    /// The upgrade request's exchange: its byte counts, status and start time make the access log line.
    let exchange: Exchange
    private var clientFinished = false
    private var upstreamFinished = false
    private(set) var ended = false

    /// Takes the upstream's socket; bytes the upstream sent right behind its `101` go to the client first.
    init(client: any TunnelClient, upstream connection: UpstreamConnection, exchange: Exchange) {
        self.client = client
        self.exchange = exchange
        runtime = client.connection.runtime
        upstream = connection.channel
        runtime.metrics.websocketUpgrades.increment()
        runtime.metrics.websocketTunnelsActive.increment()
        runtime.logger.debug(
            "websocket tunnel open",
            metadata: [
                "request.id": "\(exchange.requestID)", "upstream.host": "\(exchange.upstreamHost)",
                "peer.principal": "\(client.connection.identity.principal ?? "-")",
            ])
        let early = connection.handOver(to: self)
        if !early.isEmpty { fromUpstream(early) }
    }

    /// Bytes from the client, passed on as they are.
    func fromClient(_ bytes: [UInt8]) {
        exchange.bytesReceived += bytes.count
        upstream.write(bytes)
        if !upstream.isWritable { client?.tunnelUpstreamBackedUp(true) }
    }

    /// The upstream's socket takes more without backing up.
    var upstreamIsWritable: Bool { upstream.isWritable }

    func clientEnded() {
        clientFinished = true
        upstream.shutdownOutputAfterFlush()
        if upstreamFinished { end(graceful: true) }
    }

    /// The client's queue drained below its low-water mark (or filled): upstream reads follow it.
    func downstreamWritabilityChanged(writable: Bool) {
        if writable { upstream.resumeReading() } else { upstream.pauseReading() }
    }

    private func fromUpstream(_ bytes: [UInt8]) {
        guard let client else { return }
        exchange.bytesSent += bytes.count
        if !client.tunnelSend(bytes) { upstream.pauseReading() }
    }

    /// The client went away without finishing (browsers close the socket once the WebSocket close handshake
    /// is done; an HTTP/2 client may reset the stream): normal after the upstream finished, `flags` before.
    func clientGone(flags: ResponseFlags) {
        end(graceful: false, flags: upstreamFinished ? [] : flags)
    }

    /// Ends the tunnel, gracefully (both sides finished: what is queued is still written) or at once; when
    /// the gateway or a failure ended it, `details` and `flags` say why in its one access log line.
    func end(graceful: Bool, details: String? = nil, flags: ResponseFlags = []) {
        guard !ended else { return }
        ended = true
        if let details { exchange.responseDetails = details }
        exchange.responseFlags.formUnion(flags)
        runtime.metrics.websocketTunnelsActive.decrement()
        if let client {
            client.connection.logAccess(exchange)
            client.tunnelEnded(self, graceful: graceful)
        }
        if graceful { upstream.closeAfterFlush() } else { upstream.close() }
        runtime.logger.debug(
            "websocket tunnel closed",
            metadata: ["request.id": "\(exchange.requestID)", "details": "\(exchange.responseDetails)"])
    }

    // MARK: ChannelHandler (the upstream socket)

    func channelActive(_ channel: Channel) {}

    func channel(_ channel: Channel, didRead bytes: UnsafeRawBufferPointer) {
        fromUpstream(Array(bytes))
    }

    func channelDidReadEOF(_ channel: Channel) {
        upstreamFinished = true
        client?.tunnelFinishSending()
        if clientFinished { end(graceful: true) }
    }

    func channel(_ channel: Channel, didFail failure: TLSFailure) {
        end(
            graceful: false, details: "upstream_reset_after_response_started{connection_termination}",
            flags: .upstreamConnectionTermination)
    }

    func channelWritabilityChanged(_ channel: Channel, writable: Bool) {
        client?.tunnelUpstreamBackedUp(!writable)
    }

    func channelClosed(_ channel: Channel) {
        end(graceful: false)
    }
}
