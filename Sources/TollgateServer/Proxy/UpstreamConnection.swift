import HTTP1
import TollgateCore
import TollgateRouting
import TollgateTLS

#if canImport(Glibc)
    import Glibc
#endif

/// What an upstream connection reports to the exchange using it. Called on the loop.
protocol UpstreamDelegate: AnyObject {
    func upstreamConnected(_ upstream: UpstreamConnection)
    func upstream(_ upstream: UpstreamConnection, didReceive event: MessageEvent<ResponseHead>)
    func upstream(_ upstream: UpstreamConnection, didFail failure: UpstreamFailure)
    func upstreamWritabilityChanged(_ upstream: UpstreamConnection, writable: Bool)
}

/// Why an upstream exchange failed, in Envoy's reset-reason words.
struct UpstreamFailure: Error {
    enum Kind {
        case connectFailure, connectTimeout, connectionTermination, protocolError
    }

    let kind: Kind
    let detail: String?

    var resetReason: String {
        switch kind {
        case .connectFailure: "remote connection failure"
        case .connectTimeout: "connection timeout"
        case .connectionTermination: "connection termination"
        case .protocolError: "protocol error"
        }
    }

    var retryCause: RetryCause {
        switch kind {
        case .connectFailure, .connectTimeout: .connectFailure
        case .connectionTermination, .protocolError: .reset
        }
    }
}

/// One plaintext HTTP/1.1 connection to an upstream endpoint, carrying one exchange at a time and
/// returned to its loop's pool between exchanges. Confined to its loop.
final class UpstreamConnection: ChannelHandler, @unchecked Sendable {
    let endpoint: SocketAddress
    let loop: EventLoop
    private(set) var channel: Channel!
    weak var delegate: UpstreamDelegate?
    private var decoder: ResponseDecoder
    private var connectTimer: LoopTimer?
    private(set) var isConnected = false
    /// True once this connection carried a complete exchange (a reused connection may have been
    /// closed by the upstream while idle, which makes a failure safe to retry).
    private(set) var isReused = false
    /// The response ended with `Connection: close` or was delimited by close.
    private(set) var mustClose = false
    var inPool = false
    /// Monotonic time it was returned to the pool.
    var idleSince: UInt64 = 0

    init(endpoint: SocketAddress, loop: EventLoop, limits: HTTPLimits) {
        self.endpoint = endpoint
        self.loop = loop
        decoder = ResponseDecoder(limits: limits)
    }

    /// Starts a non-blocking connect.
    func connect(timeoutMilliseconds: Int) throws {
        loop.assertOnLoop()
        let fd = try System.socket(family: endpoint.family)
        System.setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
        do {
            let state = try System.connect(fd, to: endpoint)
            channel = Channel(
                fd: fd, loop: loop, transport: PlainTransport(fd: fd), peer: endpoint,
                connecting: {
                    if case .wouldBlock = state { return true }
                    return false
                }())
        } catch let error as SystemError {
            System.close(fd)
            throw UpstreamFailure(kind: .connectFailure, detail: "delayed connect error: \(error.errno)")
        }
        channel.handler = self
        connectTimer = loop.schedule(afterMilliseconds: timeoutMilliseconds) { [weak self] in
            guard let self, !self.isConnected else { return }
            self.failAndClose(UpstreamFailure(kind: .connectTimeout, detail: nil))
        }
        channel.start()
    }

    /// Prepares for a new exchange on this connection.
    func begin(requestIsHead: Bool, delegate: UpstreamDelegate) {
        loop.assertOnLoop()
        self.delegate = delegate
        decoder.requestWasHead = requestIsHead
        decoder.prepareForNextMessage()
        mustClose = false
    }

    func write(_ bytes: [UInt8]) { channel.write(bytes) }
    var isWritable: Bool { channel.isWritable }
    func pauseReading() { channel.pauseReading() }
    func resumeReading() { channel.resumeReading() }

    /// The exchange is done with this connection and it can carry another.
    var isReusable: Bool { channel.isOpen && !mustClose && decoder.isMessageComplete && decoder.bufferedByteCount == 0 }

    func markExchangeFinished() {
        isReused = true
        delegate = nil
    }

    func close() {
        delegate = nil
        connectTimer?.cancel()
        channel?.close()
    }

    private func failAndClose(_ failure: UpstreamFailure) {
        let d = delegate
        close()
        d?.upstream(self, didFail: failure)
    }

    // MARK: ChannelHandler

    func channelActive(_ channel: Channel) {
        isConnected = true
        connectTimer?.cancel()
        connectTimer = nil
        delegate?.upstreamConnected(self)
    }

    func channel(_ channel: Channel, didRead bytes: UnsafeRawBufferPointer) {
        guard let delegate, !inPool else {
            // Bytes on an idle connection: the upstream is not speaking HTTP/1.1 with us any more.
            close()
            loop.upstreamPool.remove(self)
            return
        }
        decoder.append(bytes)
        do {
            while let event = try decoder.next() {
                if case .head(let head) = event {
                    if !HopByHop.wantsKeepAlive(head.headers, version: head.version) { mustClose = true }
                    if (100..<200).contains(head.status) {
                        // Interim responses: Tollgate answers Expect itself, so they are dropped.
                        if head.status == 101 { throw HTTPParseError(status: 502, "unexpected protocol switch") }
                        _ = try decoder.next()  // the interim response's `.end`
                        decoder.prepareForNextMessage()
                        continue
                    }
                }
                delegate.upstream(self, didReceive: event)
                if self.delegate == nil || !channel.isOpen { return }
                if case .end = event { return }
            }
        } catch {
            failAndClose(UpstreamFailure(kind: .protocolError, detail: "\(error)"))
        }
    }

    func channelDidReadEOF(_ channel: Channel) {
        guard !inPool else {
            close()
            loop.upstreamPool.remove(self)
            return
        }
        mustClose = true
        do {
            if let event = try decoder.finishAtEOF() {
                delegate?.upstream(self, didReceive: event)
                return
            }
            if decoder.isMessageComplete { return }
            failAndClose(UpstreamFailure(kind: .connectionTermination, detail: nil))
        } catch {
            failAndClose(UpstreamFailure(kind: .connectionTermination, detail: nil))
        }
    }

    func channel(_ channel: Channel, didFail failure: TLSFailure) {
        if inPool {
            loop.upstreamPool.remove(self)
            return
        }
        let d = delegate
        delegate = nil
        connectTimer?.cancel()
        if !isConnected {
            let errno = channel.connectErrno
            d?.upstream(
                self,
                didFail: UpstreamFailure(
                    kind: .connectFailure,
                    detail: errno != 0 ? "delayed connect error: \(errno)" : failure.description))
        } else {
            d?.upstream(self, didFail: UpstreamFailure(kind: .connectionTermination, detail: nil))
        }
    }

    func channelWritabilityChanged(_ channel: Channel, writable: Bool) {
        delegate?.upstreamWritabilityChanged(self, writable: writable)
    }

    func channelClosed(_ channel: Channel) {
        if inPool { loop.upstreamPool.remove(self) }
    }
}
