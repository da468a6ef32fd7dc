/// Idle upstream connections of one loop, per endpoint, most recently used first.
final class UpstreamPool: @unchecked Sendable {
    private unowned let loop: EventLoop
    private var idle: [SocketAddress: [UpstreamConnection]] = [:]
    /// Round-robin position per cluster.
    private var nextEndpoint: [String: Int] = [:]
    static let maxIdlePerEndpoint = 64
    static let idleTimeoutMilliseconds = 60_000

    init(loop: EventLoop) { self.loop = loop }

    // The lists are changed in place (`idle[endpoint, default: []]`): copying one out and back costs an
    // allocation per request.
    func checkout(_ endpoint: SocketAddress) -> UpstreamConnection? {
        loop.assertOnLoop()
        while let connection = idle[endpoint]?.popLast() {
            connection.inPool = false
            if connection.channel.isOpen { return connection }
        }
        return nil
    }

    func checkin(_ connection: UpstreamConnection) {
        loop.assertOnLoop()
        guard idle[connection.endpoint, default: []].count < Self.maxIdlePerEndpoint else {
            connection.close()
            return
        }
        connection.inPool = true
        connection.idleSince = Clock.nowNanos()
        idle[connection.endpoint, default: []].append(connection)
    }

    /// Closes connections idle for longer than the idle timeout (run by the loop's sweep).
    func sweep(now: UInt64) {
        loop.assertOnLoop()
        let limit = UInt64(Self.idleTimeoutMilliseconds) * 1_000_000
        for (endpoint, list) in idle {
            let expired = list.filter { now - $0.idleSince > limit }
            guard !expired.isEmpty else { continue }
            idle[endpoint] = list.filter { now - $0.idleSince <= limit }
            for connection in expired {
                connection.inPool = false
                connection.close()
            }
        }
    }

    func remove(_ connection: UpstreamConnection) {
        connection.inPool = false
        idle[connection.endpoint]?.removeAll { $0 === connection }
    }

    /// The next endpoint of a cluster in round-robin order, skipping those in `avoid` when possible.
    func pickEndpoint(_ cluster: UpstreamCluster, avoid: [SocketAddress]) -> SocketAddress? {
        guard !cluster.endpoints.isEmpty else { return nil }
        let start = nextEndpoint[cluster.name, default: loop.index]
        for offset in 0..<cluster.endpoints.count {
            let candidate = cluster.endpoints[(start + offset) % cluster.endpoints.count]
            if !avoid.contains(candidate) {
                nextEndpoint[cluster.name] = start + offset + 1
                return candidate
            }
        }
        nextEndpoint[cluster.name] = start + 1
        return cluster.endpoints[start % cluster.endpoints.count]
    }
}
