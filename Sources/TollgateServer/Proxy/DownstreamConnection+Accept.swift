import Logging
import TollgateCore
import TollgateTLS

extension DownstreamConnection {
    /// Sets up a connection on its loop with the TLS group of the snapshot current at accept time, or
    /// closes it at once when `--max-connections` are already open. The loop's `clientConnections`
    /// already counts it (`EventLoopGroup.loopForNewConnection`): it is counted down when the connection
    /// ends, or here when there is none.
    @discardableResult
    static func accept(
        fd: Int32, peer: SocketAddress, port: Int, loop: EventLoop, runtime: GatewayRuntime
    ) -> DownstreamConnection? {
        let connection = start(fd: fd, peer: peer, port: port, loop: loop, runtime: runtime)
        if connection == nil { loop.clientConnections.subtract(1, ordering: .relaxed) }
        return connection
    }

    private static func start(
        fd: Int32, peer: SocketAddress, port: Int, loop: EventLoop, runtime: GatewayRuntime
    ) -> DownstreamConnection? {
        let snapshot = runtime.current
        guard let listener = snapshot.listeners[port] else {
            System.close(fd)
            return nil
        }
        guard let id = runtime.admitConnection() else {
            System.close(fd)
            logRefusal(
                "connections refused: --max-connections are open", runtime,
                ["listener.port": "\(port)", "max.connections": "\(runtime.settings.maxConnections)"])
            return nil
        }
        let proxied = !runtime.settings.proxyProtocolSources.isEmpty
        if proxied,
            !(IPAddress(peer.host).map { address in
                runtime.settings.proxyProtocolSources.contains { $0.contains(address) }
            } ?? false)
        {
            // Only the balancers may speak for clients: anyone else could claim any address.
            System.close(fd)
            runtime.connectionClosed(id)
            logRefusal(
                "connection refused: not from a --proxy-protocol source", runtime,
                ["peer.address": "\(peer.host)", "listener.port": "\(port)"])
            return nil
        }
        let tls: TLSConnection?
        var transport: Transport
        if let group = listener.tls {
            do {
                let connection = try TLSConnection(group: group, fileDescriptor: fd)
                tls = connection
                transport = connection
            } catch {
                runtime.logger.error("cannot start TLS", metadata: ["error": "\(error)"])
                System.close(fd)
                runtime.connectionClosed(id)
                return nil
            }
        } else {
            tls = nil
            transport = PlainTransport(fd: fd)
        }
        if proxied { transport = ProxyProtocolTransport(fd: fd, inner: transport) }
        let channel = Channel(fd: fd, loop: loop, transport: transport, peer: peer)
        let connection = DownstreamConnection(id: id, runtime: runtime, listenPort: port, channel: channel, tls: tls)
        connection.start()
        return connection
    }

    /// Refusals at accept come in floods: one warning per interval, with how many were refused since the last.
    private static func logRefusal(_ message: Logger.Message, _ runtime: GatewayRuntime, _ metadata: Logger.Metadata) {
        guard let refused = runtime.refusalLog.shouldLog() else { return }
        runtime.logger.warning(
            message, metadata: metadata.merging(["refused.since.last.log": "\(refused)"]) { kept, _ in kept })
    }
}
