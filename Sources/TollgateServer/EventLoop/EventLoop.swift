internal import CLinux
import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// Something watched by a loop's epoll set: a connection's socket or a listening socket.
/// Called on its loop's queue only.
protocol Selectable: AnyObject {
    /// The kernel reported `events` (epoll bits), or the loop is continuing work this object left for
    /// the next turn (then `events` is `EpollSet.readable`). Spurious calls must be harmless: the
    /// next system call says what really is ready.
    func ready(_ events: UInt32)
}

/// One serial queue that owns a set of connections. Everything a connection owns (socket, TLS
/// session, parsers, buffers, its upstream connections) is touched only on its loop's queue, so the
/// data path takes no locks; debug builds check this with `dispatchPrecondition`.
///
/// Readiness is batched: all sockets of the loop sit in one edge-triggered epoll set, and a single
/// `DispatchSource` watches that set's descriptor. Its handler takes every ready event (bounded per
/// turn) and returns, so one thread hand-off serves many socket events. Dispatch stays the executor:
/// timers, signals and off-loop work are Dispatch. Work left over at the end of a turn (a connection
/// that used its read budget, reads resumed after backpressure) runs in a later turn through
/// `queue.async`, so one busy peer cannot starve the others.
public final class EventLoop: @unchecked Sendable {
    public let queue: DispatchQueue
    public let index: Int
    /// Scratch space for socket reads; safe to share because the queue is serial.
    let readBuffer: UnsafeMutableRawBufferPointer
    /// Idle upstream connections of this loop.
    lazy var upstreamPool = UpstreamPool(loop: self)
    /// Access-log lines of this loop's requests, written in batches.
    lazy var accessLog = AccessLogBuffer(loop: self)
    /// Every open channel of this loop; this is what keeps a connection alive until it closes.
    var openChannels: [ObjectIdentifier: Channel] = [:] {
        didSet { if sweeper == nil && !openChannels.isEmpty { startSweeping() } }
    }
    private var sweeper: DispatchSourceTimer?
    private var requestMetricsCache: RequestMetrics?

    private let epoll: EpollSet
    private var readinessSource: DispatchSourceRead?
    private let events: UnsafeMutablePointer<epoll_event>
    /// Registered objects by descriptor. The generation in each event's token tells a stale event
    /// (its descriptor closed earlier in the same batch, perhaps already reused) from a current one.
    private var registrations: [Registration?] = []
    private var nextGeneration: UInt32 = 0
    /// Objects to call again in the next turn, and whether that turn is already queued.
    private var continuations: [Selectable] = []
    private var continuationQueued = false
    /// Channels holding small writes made while handling the current event, flushed when it is handled:
    /// a response head and its body go out as one TLS record and one `send`.
    private var pendingFlushes: [Channel] = []
    /// True while the loop is handling readiness; writes made meanwhile may be coalesced.
    private(set) var isHandlingEvents = false

    private struct Registration {
        let generation: UInt32
        let target: Selectable
    }

    static let eventsPerPoll: Int32 = 64
    /// Events handled per turn before the loop lets its queue run other work (timers, resumed reads).
    static let eventsPerTurn = 512

    init(index: Int) throws {
        epoll = try EpollSet()
        self.index = index
        queue = DispatchQueue(label: "tollgate.loop.\(index)")
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(Self.eventsPerPoll))
        let source = DispatchSource.makeReadSource(fileDescriptor: epoll.fd, queue: queue)
        source.setEventHandler { [unowned self] in handleReadiness() }
        let epollFD = epoll.fd
        source.setCancelHandler { System.close(epollFD) }
        source.resume()
        readinessSource = source
    }

    deinit {
        readinessSource?.cancel()
        readBuffer.deallocate()
        events.deallocate()
    }

    /// Debug builds only: the caller is on this loop's queue.
    @inline(__always)
    func assertOnLoop() {
        #if DEBUG
            dispatchPrecondition(condition: .onQueue(queue))
        #endif
    }

    // MARK: Registration

    /// Adds `fd` to the loop's epoll set; events for it go to `target` until `deregister`.
    func register(_ target: Selectable, fd: Int32, interest: UInt32) throws {
        assertOnLoop()
        let slot = Int(fd)
        if slot >= registrations.count {
            registrations.append(
                contentsOf: repeatElement(nil, count: max(slot + 1, registrations.count * 2) - registrations.count))
        }
        nextGeneration &+= 1
        try epoll.add(fd, interest: interest, token: UInt64(nextGeneration) << 32 | UInt64(UInt32(bitPattern: fd)))
        registrations[slot] = Registration(generation: nextGeneration, target: target)
    }

    /// Stops watching `fd`; call before closing it.
    func deregister(fd: Int32) {
        assertOnLoop()
        epoll.remove(fd)
        if Int(fd) < registrations.count { registrations[Int(fd)] = nil }
    }

    // MARK: Turns

    private func handleReadiness() {
        assertOnLoop()
        isHandlingEvents = true
        var handled = 0
        while handled < Self.eventsPerTurn {
            let count = epoll.poll(into: events, capacity: Self.eventsPerPoll)
            for i in 0..<count {
                let token = events[i].data.u64
                let slot = Int(UInt32(truncatingIfNeeded: token))
                guard slot < registrations.count, let registration = registrations[slot],
                    registration.generation == UInt32(truncatingIfNeeded: token >> 32)
                else { continue }
                registration.target.ready(events[i].events)
                flushPendingWrites()
            }
            handled += count
            // Polled again until empty: on loopback an upstream often answers while the request is being
            // handled, and taking that event now saves a whole hand-off through Dispatch.
            if count == 0 { break }
        }
        isHandlingEvents = false
        // Events still ready keep the set's descriptor readable: the source fires again next turn.
    }

    /// Calls `target.ready(EpollSet.readable)` in a later turn. For work an edge-triggered event will
    /// not announce again: bytes left unread after a read budget, reads resumed after a pause.
    func continueLater(_ target: Selectable) {
        assertOnLoop()
        continuations.append(target)
        guard !continuationQueued else { return }
        continuationQueued = true
        queue.async { [unowned self] in runContinuations() }
    }

    private func runContinuations() {
        continuationQueued = false
        let batch = continuations
        continuations.removeAll(keepingCapacity: true)
        isHandlingEvents = true
        for target in batch {
            target.ready(EpollSet.readable)
            flushPendingWrites()
        }
        isHandlingEvents = false
    }

    /// Flushes `channel` once the current event has been handled.
    func flushAfterEvent(_ channel: Channel) {
        pendingFlushes.append(channel)
    }

    private func flushPendingWrites() {
        while let channel = pendingFlushes.popLast() { channel.flushDeferred() }
    }

    // MARK: Timers and shared per-loop state

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

/// The loops. Each listening port has one socket per loop, so a connection is born on the loop that
/// serves it.
public final class EventLoopGroup: @unchecked Sendable {
    public let loops: [EventLoop]

    public init(count: Int) throws {
        loops = try (0..<max(1, count)).map { try EventLoop(index: $0) }
    }
}

extension EventLoop {
    /// Asks every connection of this loop to finish what it is doing and close.
    func drainConnections() {
        for channel in openChannels.values { (channel.handler as? LoopSweepable)?.drain() }
    }

    /// The drain deadline passed: what is still open (tunnels) ends now rather than with the process.
    func drainDeadlinePassed() {
        for channel in Array(openChannels.values) { (channel.handler as? LoopSweepable)?.drainDeadlinePassed() }
    }

    /// A new configuration is in force: connections verified under settings it changed are closed.
    func configurationChanged(_ snapshot: ConfigSnapshot) {
        for channel in Array(openChannels.values) {
            (channel.handler as? LoopSweepable)?.configurationChanged(snapshot)
        }
    }
}

/// Something with coarse deadlines that the loop's sweep checks.
protocol LoopSweepable: AnyObject {
    func sweep(now: UInt64)
    /// Shutting down: close when idle, and after the current response otherwise.
    func drain()
    func configurationChanged(_ snapshot: ConfigSnapshot)
    func drainDeadlinePassed()
}

extension LoopSweepable {
    /// Most connections do not depend on how clients are verified.
    func configurationChanged(_ snapshot: ConfigSnapshot) {}
    func drainDeadlinePassed() {}
}
