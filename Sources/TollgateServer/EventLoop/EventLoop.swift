import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// One serial queue that owns a set of connections. Everything a connection owns (socket, TLS
/// session, parsers, buffers, its upstream connections) is touched only on its loop's queue, so the
/// data path takes no locks.
public final class EventLoop: @unchecked Sendable {
    public let queue: DispatchQueue
    public let index: Int
    /// Scratch space for socket reads; safe to share because the queue is serial.
    let readBuffer: UnsafeMutableRawBufferPointer
    /// Idle upstream connections of this loop.
    lazy var upstreamPool = UpstreamPool(loop: self)
    /// Every open channel of this loop; this is what keeps a connection alive until it closes.
    var openChannels: [ObjectIdentifier: Channel] = [:] {
        didSet { if sweeper == nil && !openChannels.isEmpty { startSweeping() } }
    }
    private var sweeper: DispatchSourceTimer?
    private var requestMetricsCache: RequestMetrics?

    /// This loop's cache of labelled request metrics.
    func requestMetrics(_ metrics: GatewayMetrics) -> RequestMetrics {
        if let cached = requestMetricsCache { return cached }
        let created = RequestMetrics(metrics: metrics)
        requestMetricsCache = created
        return created
    }

    /// Coarse timeouts (idle connections, pooled upstreams) are checked once a second instead of
    /// arming a dispatch timer per request.
    private func startSweeping() {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + .seconds(1), repeating: .seconds(1), leeway: .milliseconds(100))
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            let now = Clock.nowNanos()
            for channel in self.openChannels.values { (channel.handler as? LoopSweepable)?.sweep(now: now) }
            self.upstreamPool.sweep(now: now)
        }
        timer.resume()
        sweeper = timer
    }

    init(index: Int) {
        self.index = index
        queue = DispatchQueue(label: "tollgate.loop.\(index)")
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    }

    deinit { readBuffer.deallocate() }

    private var dateCache: (second: Int, text: String) = (0, "")

    /// The `Date` header value, formatted at most once a second per loop.
    func httpDate() -> String {
        let now = time(nil)
        if dateCache.second != now { dateCache = (now, Clock.formatHTTPDate(now)) }
        return dateCache.text
    }

    func execute(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }

    /// A one-shot timer on this loop; cancel it when no longer needed.
    func schedule(afterMilliseconds ms: Int, _ handler: @escaping @Sendable () -> Void) -> LoopTimer {
        let source = DispatchSource.makeTimerSource(queue: queue)
        source.schedule(deadline: .now() + .milliseconds(ms))
        source.setEventHandler(handler: handler)
        source.resume()
        return LoopTimer(source: source)
    }
}

/// A cancellable one-shot timer owned by a loop.
final class LoopTimer {
    private var source: DispatchSourceTimer?

    init(source: DispatchSourceTimer) { self.source = source }

    func cancel() {
        source?.cancel()
        source = nil
    }

    deinit { source?.cancel() }
}

/// The loops, handed out round-robin to accepted connections.
public final class EventLoopGroup: @unchecked Sendable {
    public let loops: [EventLoop]
    private var nextIndex = 0
    private let lock = DispatchQueue(label: "tollgate.loops.pick")

    public init(count: Int) {
        loops = (0..<max(1, count)).map { EventLoop(index: $0) }
    }

    func next() -> EventLoop {
        lock.sync {
            defer { nextIndex = (nextIndex + 1) % loops.count }
            return loops[nextIndex]
        }
    }
}

extension EventLoop {
    /// Asks every connection of this loop to finish what it is doing and close.
    func drainConnections() {
        for channel in openChannels.values { (channel.handler as? LoopSweepable)?.drain() }
    }
}

/// Something with coarse deadlines that the loop's sweep checks.
protocol LoopSweepable: AnyObject {
    func sweep(now: UInt64)
    /// Shutting down: close when idle, and after the current response otherwise.
    func drain()
}
