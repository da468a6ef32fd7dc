import Logging
import TollgateCore
import TollgateTLS

extension DownstreamConnection {
    /// Sets up a connection on its loop with the TLS group of the snapshot current at accept time, or
    /// closes it at once when `--max-connections` are already open.
    static func accept(fd: Int32, peer: SocketAddress, port: Int, loop: EventLoop, runtime: GatewayRuntime) {
        let snapshot = runtime.current
        guard let listener = snapshot.listeners[port] else {
            System.close(fd)
            return
        }
        guard let id = runtime.admitConnection() else {
            System.close(fd)
            logRefusal(
                "connections refused: --max-connections are open", runtime,
                ["listener.port": "\(port)", "max.connections": "\(runtime.settings.maxConnections)"])
            return
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
            return
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
                return
            }
        } else {
            tls = nil
            transport = PlainTransport(fd: fd)
        }
        if proxied { transport = ProxyProtocolTransport(fd: fd, inner: transport) }
        let channel = Channel(fd: fd, loop: loop, transport: transport, peer: peer)
        let connection = DownstreamConnection(id: id, runtime: runtime, listenPort: port, channel: channel, tls: tls)
        connection.start()
    }

    /// Refusals at accept come in floods: one warning per interval, with how many were refused since the last.
    private static func logRefusal(_ message: Logger.Message, _ runtime: GatewayRuntime, _ metadata: Logger.Metadata) {
        guard let refused = runtime.refusalLog.shouldLog() else { return }
        runtime.logger.warning(
            message, metadata: metadata.merging(["refused.since.last.log": "\(refused)"]) { kept, _ in kept })
    }
}
