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
            if let refused = runtime.refusalLog.shouldLog() {
                runtime.logger.warning(
                    "connections refused: --max-connections are open",
                    metadata: [
                        "listener.port": "\(port)", "max.connections": "\(runtime.settings.maxConnections)",
                        "refused.since.last.log": "\(refused)",
                    ])
            }
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
            if let refused = runtime.refusalLog.shouldLog() {
                runtime.logger.warning(
                    "connection refused: not from a --proxy-protocol source",
                    metadata: [
                        "peer.address": "\(peer.host)", "listener.port": "\(port)",
                        "refused.since.last.log": "\(refused)",
                    ])
            }
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
}
