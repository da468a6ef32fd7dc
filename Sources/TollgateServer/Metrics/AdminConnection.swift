import HTTP1
import TollgateCore
import TollgateTLS

/// The admin port (plain HTTP, meant for localhost or a private network): `GET /stats/prometheus`
/// (as Istio's proxies expose on 15090) and `GET /healthz/ready`. One request per connection, which
/// must arrive within the header timeout like any other: the loop's sweep closes the connection after.
/// Confined to its channel's loop.
final class AdminConnection: ChannelHandler, LoopSweepable, @unchecked Sendable {
    private let runtime: GatewayRuntime
    private let channel: Channel
    private var decoder = RequestDecoder(limits: HTTPLimits(maxHeaderBytes: 8192, maxHeaderCount: 50))
    /// Until the request arrives, the header timeout; then the idle timeout bounds writing the answer to a
    /// client that does not read it.
    private var deadline: UInt64

    private init(runtime: GatewayRuntime, channel: Channel) {
        self.runtime = runtime
        self.channel = channel
        deadline = Clock.nowNanos() + UInt64(runtime.settings.headerTimeout) * 1_000_000
    }

    static func accept(fd: Int32, peer: SocketAddress, loop: EventLoop, runtime: GatewayRuntime) {
        let channel = Channel(fd: fd, loop: loop, transport: PlainTransport(fd: fd), peer: peer)
        channel.handler = AdminConnection(runtime: runtime, channel: channel)
        channel.start()
    }

    func sweep(now: UInt64) {
        if now >= deadline { channel.close() }
    }

    func drain() { channel.closeAfterFlush() }

    func channelActive(_ channel: Channel) {}

    func channel(_ channel: Channel, didRead bytes: UnsafeRawBufferPointer) {
        decoder.append(bytes)
        do {
            guard case .head(let head)? = try decoder.next() else { return }
            let (status, type, body) = answer(head)
            var headers = HTTPHeaders([
                ("content-type", type), ("content-length", String(body.count)), ("connection", "close"),
            ])
            headers.add("server", GatewayRuntime.serverName)
            channel.write(
                MessageEncoder.encode(ResponseHead(status: status, headers: headers))
                    + (head.method == "HEAD" ? [] : body))
        } catch {
            channel.write(Array("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".utf8))
        }
        deadline = Clock.nowNanos() + UInt64(runtime.settings.idleTimeout) * 1_000_000
        channel.closeAfterFlush()
    }

    private func answer(_ head: RequestHead) -> (Int, String, [UInt8]) {
        guard head.method == "GET" || head.method == "HEAD" else {
            return (405, "text/plain", Array("method not allowed\n".utf8))
        }
        switch head.path {
        case "/stats/prometheus", "/metrics":
            return (200, "text/plain; version=0.0.4; charset=utf-8", runtime.metrics.exposition())
        case "/healthz/ready":
            // Replicas that run the same configuration show the same digest, whatever their generations.
            let snapshot = runtime.current
            let (status, state) = runtime.isDraining ? (503, "draining") : (200, "ok")
            return (
                status, "text/plain",
                Array("\(state)\ngeneration \(snapshot.generation)\nconfig sha256:\(snapshot.digest)\n".utf8)
            )
        default:
            return (404, "text/plain", Array("not found: try /stats/prometheus or /healthz/ready\n".utf8))
        }
    }

    func channelDidReadEOF(_ channel: Channel) { channel.closeAfterFlush() }
    func channel(_ channel: Channel, didFail failure: TLSFailure) {}
    func channelWritabilityChanged(_ channel: Channel, writable: Bool) {}
    func channelClosed(_ channel: Channel) {}
}
