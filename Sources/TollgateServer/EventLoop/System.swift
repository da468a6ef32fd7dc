internal import CLinux

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed system call: which call and `errno` read at once.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let errno: Int32

    public var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// The result of a non-blocking call: done, or it would have blocked.
enum NonBlocking<T> {
    case done(T)
    case wouldBlock
}

/// The one wrapper around the socket system calls: retries EINTR, maps EAGAIN to `.wouldBlock`,
/// throws `SystemError` otherwise.
enum System {
    @inline(__always)
    private static func call<T: BinaryInteger>(_ name: String, _ body: () -> T) throws -> NonBlocking<T> {
        while true {
            let rc = body()
            if rc >= 0 { return .done(rc) }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
            throw SystemError(call: name, errno: e)
        }
    }

    /// A call that cannot would-block (bind, listen, shutdown): EINTR retried, any failure thrown.
    private static func check(_ name: @autoclosure () -> String, _ body: () -> Int32) throws {
        while true {
            if body() >= 0 { return }
            let e = errno
            if e == EINTR { continue }
            throw SystemError(call: name(), errno: e)
        }
    }

    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws -> NonBlocking<Int> {
        try call("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// The socket's own address (the gateway's side of an accepted connection).
    static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return rc == 0 ? SocketAddress(storage: storage) : nil
    }

    /// Looks at what the socket holds without taking it.
    static func peek(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws -> NonBlocking<Int> {
        try call("recv") { Glibc.recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_PEEK)) }
    }

    static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws -> NonBlocking<Int> {
        try call("send") { Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }
    }

    static func accept(_ fd: Int32) throws -> NonBlocking<(Int32, SocketAddress)> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let flags = Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        let result = try call("accept4") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { tg_accept4(fd, $0, &length, flags) }
            }
        }
        switch result {
        case .wouldBlock: return .wouldBlock
        case .done(let client): return .done((client, SocketAddress(storage: storage)))
        }
    }

    /// A non-blocking listening socket bound to `address`. With `reusePort` several sockets (one per
    /// loop) share the port and the kernel spreads new connections across them.
    static func listeningSocket(_ address: SocketAddress, reusePort: Bool, backlog: Int32 = 1024) throws -> Int32 {
        let fd = try socket(family: address.family)
        setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
        if reusePort { setOption(fd, level: SOL_SOCKET, name: SO_REUSEPORT, value: 1) }
        var storage = address.storage
        do {
            try check("bind \(address)") {
                withUnsafePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, address.length) }
                }
            }
            try check("listen") { listen(fd, backlog) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Fails when another socket already holds `address`. `SO_REUSEPORT` lets any process of the same user
    /// join a port's group silently and take a share of its connections, so before the loops' sockets bind,
    /// one bind without it proves the port is free (it fails with `EADDRINUSE` against any listener, ours
    /// or not, but none of ours exists yet).
    static func checkPortIsFree(_ address: SocketAddress) throws {
        let fd = try socket(family: address.family)
        defer { close(fd) }
        setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
        var storage = address.storage
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, address.length) }
        }
        if rc != 0 { throw SystemError(call: "bind \(address)", errno: errno) }
    }

    /// The soft limit on open descriptors (`ulimit -n`).
    static func openFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int(clamping: min(limit.rlim_cur, UInt(Int32.max)))
    }

    static func socket(family: Int32) throws -> Int32 {
        let fd = Glibc.socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw SystemError(call: "socket", errno: errno) }
        return fd
    }

    static func setOption(_ fd: Int32, level: Int32, name: Int32, value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Starts a non-blocking connect; `.wouldBlock` means "in progress, wait for writable".
    static func connect(_ fd: Int32, to address: SocketAddress) throws -> NonBlocking<Void> {
        var storage = address.storage
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, address.length) }
        }
        if rc == 0 { return .done(()) }
        let e = errno
        if e == EINPROGRESS || e == EINTR { return .wouldBlock }
        throw SystemError(call: "connect", errno: e)
    }

    /// The pending error of a socket whose non-blocking connect finished.
    static func socketError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length)
        return value
    }

    /// Sends FIN after what is queued. A peer that already reset the connection makes this fail
    /// (`ENOTCONN`), which changes nothing for a socket about to be closed.
    static func shutdownWrite(_ fd: Int32) {
        try? check("shutdown") { shutdown(fd, Int32(SHUT_WR)) }
    }

    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }
}

/// A loop's epoll set, edge-triggered. Events carry a 64-bit token chosen by the caller.
struct EpollSet {
    let fd: Int32

    static let readable = EPOLLIN.rawValue
    static let writable = EPOLLOUT.rawValue
    /// Error or hang-up: reported whatever the interest; the next read or write says which.
    static let failure = EPOLLERR.rawValue | EPOLLHUP.rawValue
    /// The peer shut down its side (or the connection failed): input ends with EOF or an error.
    static let peerClosed = EPOLLRDHUP.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue
    /// Sockets are watched for both directions from the start, edge-triggered: the kernel signals
    /// writability only after a send hit EAGAIN, so write interest costs no `epoll_ctl` per request.
    static let socketInterest = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
    static let listenerInterest = EPOLLIN.rawValue | EPOLLET.rawValue

    init() throws {
        fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        if fd < 0 { throw SystemError(call: "epoll_create1", errno: errno) }
    }

    func add(_ descriptor: Int32, interest: UInt32, token: UInt64) throws {
        var event = epoll_event()
        event.events = interest
        event.data.u64 = token
        if epoll_ctl(fd, EPOLL_CTL_ADD, descriptor, &event) != 0 { throw SystemError(call: "epoll_ctl", errno: errno) }
    }

    func remove(_ descriptor: Int32) {
        _ = epoll_ctl(fd, EPOLL_CTL_DEL, descriptor, nil)
    }

    /// Ready events without waiting; 0 when none (or interrupted: the loop's source fires again).
    func poll(into events: UnsafeMutablePointer<epoll_event>, capacity: Int32) -> Int {
        Int(max(0, epoll_wait(fd, events, capacity, 0)))
    }
}
