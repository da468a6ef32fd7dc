/// Idle upstream connections of one loop, per endpoint, most recently used first.
final class UpstreamPool: @unchecked Sendable {
    private unowned let loop: EventLoop
    private var idle: [SocketAddress: IdleList] = [:]
    /// Round-robin position per cluster.
    private var nextEndpoint: [String: Int] = [:]
    static let maxIdlePerEndpoint = 64
    static let idleTimeoutMilliseconds = 60_000

    /// One endpoint's idle connections, changed in place through the reference: a list kept as a dictionary
    /// value is changed through the dictionary's `_modify` accessor, whose coroutine frame costs two
    /// allocations per checkout (and copying the list out and back one more).
    private final class IdleList {
        var connections: [UpstreamConnection] = []
    }

    init(loop: EventLoop) { self.loop = loop }

    func checkout(_ endpoint: SocketAddress) -> UpstreamConnection? {
        loop.assertOnLoop()
        guard let list = idle[endpoint] else { return nil }
        while let connection = list.connections.popLast() {
            connection.inPool = false
            if connection.channel.isOpen { return connection }
        }
        return nil
    }

    func checkin(_ connection: UpstreamConnection) {
        loop.assertOnLoop()
        let list: IdleList
        if let existing = idle[connection.endpoint] {
            list = existing
        } else {
            list = IdleList()
            idle[connection.endpoint] = list
        }
        guard list.connections.count < Self.maxIdlePerEndpoint else {
            connection.close()
            return
        }
        connection.inPool = true
        connection.idleSince = Clock.nowNanos()
        list.connections.append(connection)
    }

    /// Closes connections idle for longer than the idle timeout (run by the loop's sweep).
    func sweep(now: UInt64) {
        loop.assertOnLoop()
        let limit = UInt64(Self.idleTimeoutMilliseconds) * 1_000_000
        for list in idle.values {
            let expired = list.connections.filter { now - $0.idleSince > limit }
            guard !expired.isEmpty else { continue }
            list.connections.removeAll { now - $0.idleSince > limit }
            for connection in expired {
                connection.inPool = false
                connection.close()
            }
        }
    }

    func remove(_ connection: UpstreamConnection) {
        connection.inPool = false
        idle[connection.endpoint]?.connections.removeAll { $0 === connection }
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
