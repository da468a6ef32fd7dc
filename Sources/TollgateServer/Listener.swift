import Dispatch
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A listening port: one socket per loop sharing the port with `SO_REUSEPORT`, so the kernel spreads
/// new connections across loops and each connection is born on the loop that serves it (no hand-off).
final class Listener: @unchecked Sendable {
    typealias Acceptor = (_ fd: Int32, _ peer: SocketAddress, _ loop: EventLoop) -> Void

    let port: Int
    private let sockets: [ListeningSocket]

    /// Gateway traffic: each connection becomes a `DownstreamConnection` on the port `port`.
    convenience init(address: String, port: Int, runtime: GatewayRuntime, loops: EventLoopGroup) throws {
        try self.init(address: address, port: port, runtime: runtime, loops: loops) { fd, peer, loop in
            DownstreamConnection.accept(fd: fd, peer: peer, port: port, loop: loop, runtime: runtime)
        }
    }

    init(address: String, port: Int, runtime: GatewayRuntime, loops: EventLoopGroup, acceptor: @escaping Acceptor)
        throws
    {
        self.port = port
        let addresses = try SocketAddress.resolve(host: address, port: port)
        guard let bindAddress = addresses.first else { throw ResolutionError(host: address, message: "no address") }
        try System.checkPortIsFree(bindAddress)
        var sockets: [ListeningSocket] = []
        do {
            for loop in loops.loops {
                let fd = try System.listeningSocket(bindAddress, reusePort: true)
                sockets.append(ListeningSocket(fd: fd, port: port, loop: loop, runtime: runtime, acceptor: acceptor))
            }
        } catch {
            for socket in sockets { System.close(socket.fd) }
            throw error
        }
        self.sockets = sockets
    }

    func start() {
        for socket in sockets { socket.loop.execute { socket.start() } }
    }

    func stop() {
        for socket in sockets { socket.loop.execute { socket.stop() } }
    }
}

/// One loop's listening socket. Accepts until the kernel has no more (bounded per turn), and when the
/// process runs out of descriptors stops watching the socket for a growing delay instead of spinning
/// on a backlog it cannot take. Confined to its loop.
final class ListeningSocket: Selectable, @unchecked Sendable {
    let fd: Int32
    let loop: EventLoop
    private let port: Int
    private let runtime: GatewayRuntime
    private let acceptor: Listener.Acceptor
    private var watching = false
    private var stopped = false
    private var retryTimer: LoopTimer?
    private var backoffMilliseconds = ListeningSocket.initialBackoffMilliseconds

    static let acceptsPerTurn = 64
    /// The most a stopping socket takes from its backlog (the kernel's default backlog is far smaller).
    static let maxQueuedAtStop = 4096
    static let initialBackoffMilliseconds = 100
    static let maxBackoffMilliseconds = 3_200

    init(fd: Int32, port: Int, loop: EventLoop, runtime: GatewayRuntime, acceptor: @escaping Listener.Acceptor) {
        self.fd = fd
        self.port = port
        self.loop = loop
        self.runtime = runtime
        self.acceptor = acceptor
    }

    func start() {
        loop.assertOnLoop()
        guard !stopped else { return }
        watch()
    }

    /// Stops listening. Connections the kernel has already completed and queued were accepted as far as
    /// the client knows: they are taken and served first, not reset by closing the socket under them.
    func stop() {
        loop.assertOnLoop()
        guard !stopped else { return }
        if watching { acceptQueued() }
        stopped = true
        retryTimer?.cancel()
        retryTimer = nil
        if watching { loop.deregister(fd: fd) }
        watching = false
        System.close(fd)
    }

    private func acceptQueued() {
        for _ in 0..<ListeningSocket.maxQueuedAtStop {
            guard case .done(let (clientFD, peer))? = try? System.accept(fd) else { return }
            System.setOption(clientFD, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
            acceptor(clientFD, peer, loop)
        }
    }

    private func watch() {
        do {
            // Adding the socket reports connections already waiting as a fresh edge.
            try loop.register(self, fd: fd, interest: EpollSet.listenerInterest)
            watching = true
        } catch {
            runtime.logger.error(
                "cannot watch the listening socket", metadata: ["listener.port": "\(port)", "error": "\(error)"])
        }
    }

    func ready(_ events: UInt32) {
        loop.assertOnLoop()
        guard watching else { return }
        for _ in 0..<ListeningSocket.acceptsPerTurn {
            let accepted: (Int32, SocketAddress)
            do {
                switch try System.accept(fd) {
                case .wouldBlock: return
                case .done(let pair): accepted = pair
                }
            } catch let error as SystemError {
                switch error.errno {
                case ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENETUNREACH, EHOSTUNREACH, EHOSTDOWN, ENONET, ENOPROTOOPT,
                    EOPNOTSUPP:
                    // That one connection failed in the backlog (or a firewall refused it): take the next.
                    continue
                default:
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM: the process or the kernel is out of resources.
                    pauseAccepting(error)
                    return
                }
            } catch {
                return
            }
            backoffMilliseconds = ListeningSocket.initialBackoffMilliseconds
            let (clientFD, peer) = accepted
            System.setOption(clientFD, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
            acceptor(clientFD, peer, loop)
        }
        // Budget spent: connections still waiting get no new edge, so continue in a later turn.
        loop.continueLater(self)
    }

    /// Out of descriptors (or kernel memory): accepting again at once would fail the same way for as
    /// long as the backlog is not empty, and an edge-triggered retry loop would spin. Stop watching,
    /// retry after a delay that doubles while it keeps failing, and log at most once per interval.
    private func pauseAccepting(_ error: SystemError) {
        loop.deregister(fd: fd)
        watching = false
        let delay = backoffMilliseconds
        backoffMilliseconds = min(backoffMilliseconds * 2, ListeningSocket.maxBackoffMilliseconds)
        runtime.metrics.acceptPauses.increment()
        if let occurrences = runtime.acceptPauseLog.shouldLog() {
            runtime.logger.error(
                "accepting paused: cannot take new connections",
                metadata: [
                    "listener.port": "\(port)", "error": "\(error)", "retry.ms": "\(delay)",
                    "pauses.since.last.log": "\(occurrences)", "connections.open": "\(runtime.openConnections)",
                ])
        }
        retryTimer = loop.schedule(afterMilliseconds: delay) { [self] in
            retryTimer = nil
            guard !stopped else { return }
            watch()
        }
    }
}

/// Lets a repeated condition be logged once per interval, counting the occurrences in between.
final class RateLimitedLog: @unchecked Sendable {
    private let intervalNanos: UInt64
    private let lock = NSLock()
    private var lastLogged: UInt64?
    private var occurrences = 0

    init(intervalSeconds: Int) {
        intervalNanos = UInt64(intervalSeconds) * 1_000_000_000
    }

    /// Records one occurrence; returns how many there were since the last line when one is due now.
    func shouldLog(now: UInt64 = Clock.nowNanos()) -> Int? {
        lock.withLock {
            occurrences += 1
            if let lastLogged, now - lastLogged < intervalNanos { return nil }
            lastLogged = now
            defer { occurrences = 0 }
            return occurrences
        }
    }
}
