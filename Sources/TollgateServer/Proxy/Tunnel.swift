import HTTP1
import TollgateCore
import TollgateTLS

/// A WebSocket connection after the upstream's `101 Switching Protocols` (RFC 9110 §7.8, RFC 6455 §4.1):
/// bytes are copied both ways unparsed until both sides have finished. Confined to the loop of its
/// downstream connection, which owns it; it is the handler of the upstream socket.
///
/// Invariants: a side's reads are paused while the other side's outbound queue is above its high-water
/// mark (each side's memory is bounded by the channel's queue); one side's EOF half-closes the other
/// (`shutdownOutputAfterFlush`) and the tunnel ends when both have sent theirs, or at once when either
/// fails. `end` runs once and writes the tunnel's access log line.
final class Tunnel: ChannelHandler, @unchecked Sendable {
    private weak var downstream: DownstreamConnection?
    let upstream: Channel
    /// The upgrade request's exchange: its byte counts, status and start time make the access log line.
    let exchange: Exchange
    private var clientFinished = false
    private var upstreamFinished = false
    private(set) var ended = false

    /// Takes the upstream's socket; bytes the upstream sent right behind its `101` go to the client first.
    init(downstream: DownstreamConnection, upstream connection: UpstreamConnection, exchange: Exchange) {
        self.downstream = downstream
        self.exchange = exchange
        upstream = connection.channel
        let early = connection.handOver(to: self)
        if !early.isEmpty { fromUpstream(early) }
    }

    /// Bytes from the client, passed on as they are.
    func fromClient(_ bytes: [UInt8]) {
        exchange.bytesReceived += bytes.count
        upstream.write(bytes)
        if !upstream.isWritable { downstream?.setReadPaused(.upstreamBackpressure, true) }
    }

    func clientEnded() {
        clientFinished = true
        upstream.shutdownOutputAfterFlush()
        if upstreamFinished { end(graceful: true) }
    }

    /// The downstream queue drained below its low-water mark (or filled): upstream reads follow it.
    func downstreamWritabilityChanged(writable: Bool) {
        if writable { upstream.resumeReading() } else { upstream.pauseReading() }
    }

    private func fromUpstream(_ bytes: [UInt8]) {
        guard let downstream else { return }
        downstream.lastActivityNanos = Clock.nowNanos()
        exchange.bytesSent += bytes.count
        downstream.channel.write(bytes)
        if !downstream.channel.isWritable { upstream.pauseReading() }
    }

    /// The client's connection ended without its TLS close (browsers close the socket once the WebSocket
    /// close handshake is done): normal after the upstream finished, a downstream disconnect before.
    func clientConnectionClosed() {
        end(graceful: false, flags: upstreamFinished ? [] : .downstreamConnectionTermination)
    }

    /// Ends the tunnel, gracefully (both sides finished: what is queued is still written) or at once; when
    /// the gateway or a failure ended it, `details` and `flags` say why in its one access log line.
    func end(graceful: Bool, details: String? = nil, flags: ResponseFlags = []) {
        guard !ended else { return }
        ended = true
        if let details { exchange.responseDetails = details }
        exchange.responseFlags.formUnion(flags)
        let downstream = self.downstream
        downstream?.tunnelEnded(self)
        if graceful {
            upstream.closeAfterFlush()
            downstream?.channel.closeAfterFlush()
        } else {
            upstream.close()
            downstream?.channel.close()
        }
    }

    // MARK: ChannelHandler (the upstream socket)

    func channelActive(_ channel: Channel) {}

    func channel(_ channel: Channel, didRead bytes: UnsafeRawBufferPointer) {
        fromUpstream(Array(bytes))
    }

    func channelDidReadEOF(_ channel: Channel) {
        upstreamFinished = true
        downstream?.channel.shutdownOutputAfterFlush()
        if clientFinished { end(graceful: true) }
    }

    func channel(_ channel: Channel, didFail failure: TLSFailure) {
        end(
            graceful: false, details: "upstream_reset_after_response_started{connection_termination}",
            flags: .upstreamConnectionTermination)
    }

    func channelWritabilityChanged(_ channel: Channel, writable: Bool) {
        downstream?.setReadPaused(.upstreamBackpressure, !writable)
    }

    func channelClosed(_ channel: Channel) {
        end(graceful: false)
    }
}
