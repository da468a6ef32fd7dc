import Dispatch
import TollgateTLS

#if canImport(Glibc)
    import Glibc
#endif

/// What a channel tells its owner. Called on the channel's loop only.
protocol ChannelHandler: AnyObject {
    /// The transport is ready (TLS handshake done, or a plain socket accepted/connected).
    func channelActive(_ channel: Channel)
    func channel(_ channel: Channel, didRead bytes: UnsafeRawBufferPointer)
    /// The peer finished sending (EOF or close_notify).
    func channelDidReadEOF(_ channel: Channel)
    /// The channel failed and is closed; `reason` is for logs.
    func channel(_ channel: Channel, didFail failure: TLSFailure)
    /// Outbound bytes fell below the low-water mark after having been above the high-water mark.
    func channelWritabilityChanged(_ channel: Channel, writable: Bool)
    func channelClosed(_ channel: Channel)
}

/// A non-blocking socket in its loop's edge-triggered epoll set, with a transport (plain or TLS) and an
/// outbound buffer. Confined to `loop.queue`: every method must be called there.
///
/// Edge-triggered means an event says "something changed", once: after a readable event the channel
/// reads until the transport says it would block, or until its per-turn budget is spent and it asks
/// the loop to continue in a later turn. `mayHaveInput` remembers that input may be waiting without a
/// new edge coming (budget spent, reading paused for backpressure, TLS plaintext held by OpenSSL), so
/// resuming reads re-processes it. Writes go straight to the socket; only a write that would block
/// leaves bytes queued, and the writable edge that follows flushes them.
final class Channel: Selectable, @unchecked Sendable {
    enum State { case connecting, handshaking, active, closing, closed }

    let fd: Int32
    let loop: EventLoop
    let transport: Transport
    let peer: SocketAddress?
    /// Strong while open: the loop's registry keeps the channel alive, the channel its handler; both
    /// let go in `close()`.
    var handler: ChannelHandler?
    private(set) var state: State

    private var registered = false
    private var readPaused = false
    /// Input may be waiting that no new event will announce.
    private var mayHaveInput = false
    private var inputClosed = false
    /// The kernel reported the peer's FIN (or an error): keep reading until EOF, short reads or not.
    private var peerClosed = false
    /// A write would block: the next writable event flushes.
    private var awaitingWritable = false
    /// A TLS read needs the socket writable (post-handshake messages); read again once it is.
    private var readWantsWrite = false
    private var flushIsDeferred = false

    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    private var closeWhenFlushed = false
    /// `closeAfterFlush` was asked and the queue is not written yet: the peer is not reading it.
    var isWaitingToFlushBeforeClose: Bool { closeWhenFlushed && state == .active && pendingOutboundBytes > 0 }
    /// Half-close (tunnels): once the queue is written, the peer is told nothing more comes.
    private var shutdownOutputWhenFlushed = false
    private(set) var outputShutdown = false
    private var reportedUnwritable = false
    private var lingerTimer: LoopTimer?

    static let highWaterMark = 256 * 1024
    static let lowWaterMark = 64 * 1024
    /// Reads per readable event before the channel yields to the loop's other connections.
    static let readsPerTurn = 16
    /// Writes smaller than this, made while the loop handles an event, wait until the event is handled
    /// so they leave together (a response head and a small body in one TLS record and one `send`).
    static let coalescingLimit = 16 * 1024
    /// How long a closing connection keeps reading (and discarding) for a peer that has not closed yet.
    static let lingerMilliseconds = 2000

    init(fd: Int32, loop: EventLoop, transport: Transport, peer: SocketAddress?, connecting: Bool = false) {
        self.fd = fd
        self.loop = loop
        self.transport = transport
        self.peer = peer
        state = connecting ? .connecting : .handshaking
    }

    var pendingOutboundBytes: Int { outbound.count - outboundOffset }
    var isWritable: Bool { pendingOutboundBytes < Channel.highWaterMark }
    var isOpen: Bool { state != .closed && state != .closing }

    /// Joins the loop's epoll set and starts the handshake (or waits for the connect to finish).
    func start() {
        loop.assertOnLoop()
        loop.openChannels[ObjectIdentifier(self)] = self
        do {
            try loop.register(self, fd: fd, interest: EpollSet.socketInterest)
            registered = true
        } catch {
            fail(TLSFailure("\(error)"))
            return
        }
        // An accepted client has often sent its first bytes already; a connecting socket waits for
        // its writable event.
        if state == .handshaking { driveHandshake() }
    }

    func ready(_ events: UInt32) {
        loop.assertOnLoop()
        let failed = events & EpollSet.failure != 0
        if events & EpollSet.readable != 0 || failed { mayHaveInput = true }
        if events & EpollSet.peerClosed != 0 { peerClosed = true }
        switch state {
        case .connecting:
            if events & (EpollSet.writable | EpollSet.failure) != 0 { connectFinished() }
        case .handshaking:
            driveHandshake()
        case .active:
            if awaitingWritable && (events & EpollSet.writable != 0 || failed) {
                awaitingWritable = false
                if readWantsWrite {
                    readWantsWrite = false
                    mayHaveInput = true
                }
                flush()
            }
            readAvailable()
        case .closing:
            drainWhileLingering()
        case .closed:
            return
        }
    }

    // MARK: Reading

    func pauseReading() {
        readPaused = true
    }

    func resumeReading() {
        guard readPaused else { return }
        readPaused = false
        // No new edge comes for bytes that arrived (or stayed in OpenSSL) while paused.
        if state == .active && (mayHaveInput || transport.pendingBytes > 0) { loop.continueLater(self) }
    }

    private func readAvailable() {
        guard mayHaveInput || transport.pendingBytes > 0 else { return }
        for _ in 0..<Channel.readsPerTurn {
            guard state == .active && !readPaused && !inputClosed && !readWantsWrite else { return }
            switch transport.read(into: loop.readBuffer) {
            case .done(let n):
                // A short read on a plain socket emptied it: new bytes bring a new edge, so the read
                // that would only say EAGAIN is skipped (as nginx does), unless a FIN is due.
                let drained = n < loop.readBuffer.count && transport.shortReadDrainsSocket && !peerClosed
                if drained { mayHaveInput = false }
                handler?.channel(self, didRead: UnsafeRawBufferPointer(rebasing: loop.readBuffer[0..<n]))
                if drained { return }
            case .wantRead:
                mayHaveInput = false
                return
            case .wantWrite:
                readWantsWrite = true
                awaitingWritable = true
                return
            case .closed:
                mayHaveInput = false
                inputClosed = true
                handler?.channelDidReadEOF(self)
                return
            case .failed(let failure):
                fail(failure)
                return
            }
        }
        // Budget spent with input maybe left in the socket or in OpenSSL: finish in a later turn.
        if state == .active && !readPaused { loop.continueLater(self) }
    }

    // MARK: Handshake and connect

    private func driveHandshake() {
        switch transport.handshake() {
        case .done:
            state = .active
            mayHaveInput = true
            if pendingOutboundBytes > 0 { flush() }
            handler?.channelActive(self)
            readAvailable()
        case .wantRead:
            break
        case .wantWrite:
            awaitingWritable = true
        case .closed:
            fail(TLSFailure("peer closed the connection during the TLS handshake"))
        case .failed(let failure):
            lingerAfterFailedHandshake(failure)
        }
    }

    private func connectFinished() {
        let error = System.socketError(fd)
        if error != 0 {
            fail(TLSFailure(SystemError(call: "connect", errno: error).description), connectErrno: error)
            return
        }
        state = .handshaking
        driveHandshake()
    }

    /// errno of a failed connect, for the upstream error text.
    private(set) var connectErrno: Int32 = 0

    // MARK: Writing

    /// Queues `bytes` and writes them now, or once the current event is handled when they are small.
    func write(_ bytes: [UInt8]) {
        loop.assertOnLoop()
        guard state != .closed && !closeWhenFlushed && !outputShutdown, !bytes.isEmpty else { return }
        if outboundOffset == outbound.count {
            outbound = bytes
            outboundOffset = 0
        } else {
            outbound.append(contentsOf: bytes)
        }
        guard state == .active else {
            // Still connecting or handshaking: the bytes wait, but the writer must learn when they
            // pass the high-water mark, or it would pause itself and never hear that it may resume.
            noteWritability()
            return
        }
        if awaitingWritable {
            noteWritability()
        } else if loop.isHandlingEvents && pendingOutboundBytes < Channel.coalescingLimit {
            if !flushIsDeferred {
                flushIsDeferred = true
                loop.flushAfterEvent(self)
            }
        } else {
            flush()
        }
    }

    /// The loop's end-of-event flush of writes that `write` held back.
    func flushDeferred() {
        flushIsDeferred = false
        if state == .active && !awaitingWritable { flush() }
    }

    private func flush() {
        while outboundOffset < outbound.count {
            let result = outbound.withUnsafeBytes { raw in
                transport.write(UnsafeRawBufferPointer(rebasing: raw[outboundOffset...]))
            }
            switch result {
            case .done(let n):
                outboundOffset += n
            case .wantWrite, .wantRead:
                awaitingWritable = true
                noteWritability()
                return
            case .closed:
                fail(TLSFailure("peer closed the connection while we were writing"))
                return
            case .failed(let failure):
                fail(failure)
                return
            }
        }
        // Nothing is kept: the next write into an empty queue takes the writer's array as it is, so a kept
        // buffer would never be written into, and emptying one the writer still shares (a write flushed at
        // once) in place would allocate a new one. Nor does a large queue (a body streamed in 64 KiB reads,
        // or piled up behind a slow reader) stay with an idle connection.
        outbound = []
        outboundOffset = 0
        noteWritability()
        if shutdownOutputWhenFlushed { shutdownOutputNow() }
        if closeWhenFlushed { beginLingeringClose() }
    }

    private func noteWritability() {
        let pending = pendingOutboundBytes
        if !reportedUnwritable && pending >= Channel.highWaterMark {
            reportedUnwritable = true
            handler?.channelWritabilityChanged(self, writable: false)
        } else if reportedUnwritable && pending <= Channel.lowWaterMark {
            reportedUnwritable = false
            handler?.channelWritabilityChanged(self, writable: true)
        }
    }

    // MARK: Closing

    /// Half-close: after everything queued is written, sends TLS close_notify and a FIN, and keeps
    /// reading (RFC 9293 §3.6: the other direction stays open). A tunnel passes on one side's end this way.
    func shutdownOutputAfterFlush() {
        guard isOpen, !outputShutdown else { return }
        shutdownOutputWhenFlushed = true
        if state == .active && pendingOutboundBytes == 0 { shutdownOutputNow() }
    }

    private func shutdownOutputNow() {
        shutdownOutputWhenFlushed = false
        outputShutdown = true
        transport.shutdown()
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Closes once everything queued has been written, then lingers briefly so a peer still sending
    /// (a pipelined request, an unread body) gets our response instead of a reset.
    func closeAfterFlush() {
        guard isOpen else { return }
        closeWhenFlushed = true
        if state != .active {
            close()
        } else if pendingOutboundBytes == 0 {
            beginLingeringClose()
        } else if !awaitingWritable && !flushIsDeferred {
            flush()
        }
    }

    private func beginLingeringClose() {
        guard state == .active else { return }
        transport.shutdown()
        linger()
    }

    private func linger() {
        state = .closing
        System.shutdownWrite(fd)
        lingerTimer = loop.schedule(afterMilliseconds: Channel.lingerMilliseconds) { [self] in close() }
        drainWhileLingering()
    }

    /// OpenSSL has written its alert. The connection stays open for writing (no FIN) until the client
    /// closes or the linger ends, reading and discarding: a TLS 1.3 client finishes its handshake before
    /// the alert arrives, and Chromium reads the alert early (a post-handshake peek) and then asks the
    /// kernel whether the socket is still connected before it sends its request. A FIN behind the alert
    /// answers "no", and it reports ERR_SOCKET_NOT_CONNECTED instead of the refused certificate; without
    /// the FIN it sends its request, reads the alert's error and closes. Clients that read the alert first
    /// (curl, openssl) see the same alert either way, and a reset never overtakes it: nothing sent is
    /// left unread. The handler stays until the close, so the connection still counts as open.
    private func lingerAfterFailedHandshake(_ failure: TLSFailure) {
        state = .closing
        lingerTimer = loop.schedule(afterMilliseconds: Channel.lingerMilliseconds) { [self] in
            drainWhileLingering()
            close()
        }
        handler?.channel(self, didFail: failure)
        drainWhileLingering()
    }

    private func drainWhileLingering() {
        // Raw reads: the bytes are discarded, and a failed TLS session could not decrypt them anyway.
        // A peer that keeps sending gets a turn's budget at a time, so the loop's other connections and
        // the linger timer still run.
        for _ in 0..<Channel.readsPerTurn {
            guard state == .closing else { return }
            switch try? System.read(fd, loop.readBuffer) {
            case .done(let n)? where n > 0: continue
            case .wouldBlock?: return
            default:
                close()
                return
            }
        }
        if state == .closing { loop.continueLater(self) }
    }

    func fail(_ failure: TLSFailure, connectErrno: Int32 = 0) {
        guard state != .closed else { return }
        self.connectErrno = connectErrno
        let handler = self.handler
        self.handler = nil
        close()
        handler?.channel(self, didFail: failure)
    }

    /// Closes now, dropping anything unsent.
    func close() {
        loop.assertOnLoop()
        guard state != .closed else { return }
        let wasActive = state == .active
        state = .closed
        lingerTimer?.cancel()
        lingerTimer = nil
        if wasActive { transport.shutdown() }
        if registered { loop.deregister(fd: fd) }
        registered = false
        System.close(fd)
        let handler = self.handler
        self.handler = nil
        handler?.channelClosed(self)
        loop.openChannels.removeValue(forKey: ObjectIdentifier(self))
    }
}
