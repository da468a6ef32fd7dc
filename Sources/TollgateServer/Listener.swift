#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import TollgateTLS

/// A listening socket. Accepts on its own queue until EAGAIN and hands each connection to a loop.
final class Listener: @unchecked Sendable {
    typealias Acceptor = @Sendable (_ fd: Int32, _ peer: SocketAddress, _ loop: EventLoop) -> Void

    let port: Int
    private let fd: Int32
    private let source: DispatchSourceRead
    private let queue: DispatchQueue
    private let runtime: GatewayRuntime
    private let loops: EventLoopGroup
    private let acceptor: Acceptor

    /// Gateway traffic: each connection becomes a `DownstreamConnection` on the port `port`.
    convenience init(address: String, port: Int, runtime: GatewayRuntime, loops: EventLoopGroup) throws {
        try self.init(address: address, port: port, runtime: runtime, loops: loops) { fd, peer, loop in
            DownstreamConnection.accept(fd: fd, peer: peer, port: port, loop: loop, runtime: runtime)
        }
    }

    init(address: String, port: Int, runtime: GatewayRuntime, loops: EventLoopGroup, acceptor: @escaping Acceptor) throws {
        self.port = port
        self.runtime = runtime
        self.loops = loops
        self.acceptor = acceptor
        let addresses = try SocketAddress.resolve(host: address, port: port)
        guard let bindAddress = addresses.first else { throw ResolutionError(host: address, message: "no address") }
        let fd = try System.socket(family: bindAddress.family)
        self.fd = fd
        System.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
        var storage = bindAddress.storage
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, bindAddress.length) }
        }
        if rc != 0 {
            let e = errno
            System.close(fd)
            throw SystemError(call: "bind \(address):\(port)", errno: e)
        }
        guard listen(fd, 1024) == 0 else {
            let e = errno
            System.close(fd)
            throw SystemError(call: "listen", errno: e)
        }
        queue = DispatchQueue(label: "tollgate.listener.\(port)")
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setCancelHandler { System.close(fd) }
        source.setEventHandler { [weak self] in self?.acceptAll() }
    }

    func start() { source.resume() }

    func stop() { source.cancel() }

    private func acceptAll() {
        while true {
            let accepted: (Int32, SocketAddress)
            do {
                switch try System.accept(fd) {
                case .wouldBlock: return
                case .done(let pair): accepted = pair
                }
            } catch let error as SystemError {
                // EMFILE and friends: log and let the source fire again later rather than spin.
                runtime.logger.error("accept failed", metadata: ["listener.port": "\(port)", "error": "\(error)"])
                return
            } catch {
                return
            }
            let (clientFD, peer) = accepted
            System.setOption(clientFD, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
            let loop = loops.next()
            let acceptor = self.acceptor
            loop.execute { acceptor(clientFD, peer, loop) }
        }
    }
}
