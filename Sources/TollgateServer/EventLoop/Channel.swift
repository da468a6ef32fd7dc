#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import TollgateTLS

/// What a channel tells its owner. Called on the channel's loop only.
protocol ChannelHandler: AnyObject {
    /// The transport is ready (TLS handshake done, or a plain socket accepted/connected).
    func channelActive(_ channel: Channel)
    func channel(_ channel: Channel, didRead bytes: UnsafeRawBufferPointer)
    /// The peer finished sending (EOF or close_notify).
    func channelDidReadEOF(_ channel: Channel)
    /// The channel failed and is closed; `reason` is for logs.
    func channel(_ channel: Channel, didFail reason: String)
    /// Outbound bytes fell below the low-water mark after having been above the high-water mark.
    func channelWritabilityChanged(_ channel: Channel, writable: Bool)
    func channelClosed(_ channel: Channel)
}

/// A non-blocking socket with its read and write `DispatchSource`s, a transport (plain or TLS) and an
/// outbound buffer. Confined to `loop.queue`: every method must be called there.
///
/// The write source runs only while output is pending. Reading can be paused for backpressure; because
/// TLS may hold decrypted bytes that the socket no longer signals, resuming schedules a read at once.
final class Channel: @unchecked Sendable {
    enum State { case connecting, handshaking, active, closing, closed }

    let fd: Int32
    let loop: EventLoop
    let transport: Transport
    let peer: SocketAddress?
    /// Strong while open: the loop's registry keeps the channel alive, the channel its handler; both
    /// let go in `close()`.
    var handler: ChannelHandler?
    private(set) var state: State

    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var writeSourceRunning = false
    private var readSourceRunning = false
    private var readPaused = false
    private var readScheduled = false
    /// Set when a TLS read needs the socket writable (post-handshake messages).
    private var readWantsWrite = false

    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    private var closeWhenFlushed = false
    private var reportedUnwritable = false
    private var lingerTimer: LoopTimer?

    static let highWaterMark = 256 * 1024
    static let lowWaterMark = 64 * 1024

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

    /// Installs the sources and starts the handshake (or waits for the connect to finish).
    func start() {
        loop.openChannels[ObjectIdentifier(self)] = self
        let read = DispatchSource.makeReadSource(fileDescriptor: fd, queue: loop.queue)
        let write = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: loop.queue)
        readSource = read
        writeSource = write
        let closer = DescriptorCloser(fd: fd, holders: 2)
        let closeOnBothCancelled: @Sendable () -> Void = { closer.release() }
        read.setCancelHandler(handler: closeOnBothCancelled)
        write.setCancelHandler(handler: closeOnBothCancelled)
        read.setEventHandler { [weak self] in self?.readable() }
        write.setEventHandler { [weak self] in self?.writable() }
        read.resume()
        readSourceRunning = true
        if state == .connecting {
            setWriteSource(running: true)
        } else {
            driveHandshake()
        }
    }

    // MARK: Reading

    func pauseReading() {
        guard !readPaused else { return }
        readPaused = true
        if readSourceRunning, let readSource {
            readSource.suspend()
            readSourceRunning = false
        }
    }

    func resumeReading() {
        guard readPaused, isOpen || state == .closing else { return }
        readPaused = false
        if !readSourceRunning, let readSource {
            readSource.resume()
            readSourceRunning = true
        }
        scheduleRead()
    }

    private func scheduleRead() {
        guard !readScheduled else { return }
        readScheduled = true
        loop.execute { [self] in
            readScheduled = false
            if state == .active && !readPaused { readAvailable() }
        }
    }

    private func readable() {
        switch state {
        case .connecting: connectFinished()  // a refused connect shows up as readable (EPOLLERR/HUP)
        case .handshaking: driveHandshake()
        case .active: readAvailable()
        case .closing: drainWhileLingering()
        case .closed: return
        }
    }

    private func readAvailable() {
        var rounds = 0
        while state == .active && !readPaused {
            if rounds == 16 {
                // Let other connections on this loop run; come back for the rest.
                if transport.pendingBytes > 0 { scheduleRead() }
                return
            }
            rounds += 1
            switch transport.read(into: loop.readBuffer) {
            case .done(let n):
                handler?.channel(self, didRead: UnsafeRawBufferPointer(rebasing: loop.readBuffer[0..<n]))
            case .wantRead:
                return
            case .wantWrite:
                readWantsWrite = true
                setWriteSource(running: true)
                return
            case .closed:
                // Stop watching for reads: the peer sent everything it will send.
                pauseReading()
                handler?.channelDidReadEOF(self)
                return
            case .failed(let reason):
                fail(reason)
                return
            }
        }
    }

    // MARK: Handshake and connect

    private func driveHandshake() {
        switch transport.handshake() {
        case .done:
            state = .active
            setWriteSource(running: pendingOutboundBytes > 0)
            handler?.channelActive(self)
            if state == .active && !readPaused { readAvailable() }
        case .wantRead:
            setWriteSource(running: false)
        case .wantWrite:
            setWriteSource(running: true)
        case .closed:
            fail("peer closed the connection during the TLS handshake")
        case .failed(let reason):
            // OpenSSL has queued an alert; linger so the client reads it instead of a reset caused by
            // its own unread bytes (a TLS 1.3 client may already have sent its request).
            let handler = self.handler
            self.handler = nil
            linger()
            handler?.channel(self, didFail: reason)
            handler?.channelClosed(self)
        }
    }

    private func connectFinished() {
        let error = System.socketError(fd)
        if error != 0 {
            fail(SystemError(call: "connect", errno: error).description, connectErrno: error)
            return
        }
        state = .handshaking
        driveHandshake()
    }

    /// errno of a failed connect, for the upstream error text.
    private(set) var connectErrno: Int32 = 0

    // MARK: Writing

    func write(_ bytes: [UInt8]) {
        guard state != .closed && !closeWhenFlushed, !bytes.isEmpty else { return }
        if outboundOffset == outbound.count {
            outbound = bytes
            outboundOffset = 0
        } else {
            outbound.append(contentsOf: bytes)
        }
        if state == .active { flush() }
    }

    private func writable() {
        switch state {
        case .connecting: connectFinished()
        case .handshaking: driveHandshake()
        case .active:
            if readWantsWrite {
                readWantsWrite = false
                readAvailable()
            }
            flush()
        case .closing, .closed: setWriteSource(running: false)
        }
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
                setWriteSource(running: true)
                noteWritability()
                return
            case .closed:
                fail("peer closed the connection while we were writing")
                return
            case .failed(let reason):
                fail(reason)
                return
            }
        }
        outbound.removeAll(keepingCapacity: outbound.capacity <= 1 << 20)
        outboundOffset = 0
        setWriteSource(running: readWantsWrite)
        noteWritability()
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

    private func setWriteSource(running: Bool) {
        guard let writeSource, running != writeSourceRunning else { return }
        if running { writeSource.resume() } else { writeSource.suspend() }
        writeSourceRunning = running
    }

    // MARK: Closing

    /// Closes once everything queued has been written, then lingers briefly so a peer still sending
    /// (a pipelined request, an unread body) gets our response instead of a reset.
    func closeAfterFlush() {
        guard isOpen else { return }
        closeWhenFlushed = true
        if pendingOutboundBytes == 0 && state == .active { beginLingeringClose() }
        if state != .active { close() }
    }

    private func beginLingeringClose() {
        guard state == .active else { return }
        transport.shutdown()
        linger()
    }

    private func linger() {
        state = .closing
        setWriteSource(running: false)
        shutdown(fd, Int32(SHUT_WR))
        if readPaused {
            readPaused = false
            if !readSourceRunning, let readSource { readSource.resume(); readSourceRunning = true }
        }
        lingerTimer = loop.schedule(afterMilliseconds: 2000) { [self] in close() }
        drainWhileLingering()
    }

    private func drainWhileLingering() {
        // Raw reads: the bytes are discarded, and a failed TLS session could not decrypt them anyway.
        while state == .closing {
            switch try? System.read(fd, loop.readBuffer) {
            case .done(let n)? where n > 0: continue
            case .wouldBlock?: return
            default: close(); return
            }
        }
    }

    func fail(_ reason: String, connectErrno: Int32 = 0) {
        guard state != .closed else { return }
        self.connectErrno = connectErrno
        let handler = self.handler
        self.handler = nil
        close()
        handler?.channel(self, didFail: reason)
    }

    /// Closes now, dropping anything unsent.
    func close() {
        guard state != .closed else { return }
        let wasActive = state == .active
        state = .closed
        lingerTimer?.cancel()
        lingerTimer = nil
        if wasActive { transport.shutdown() }
        // A suspended source must be resumed before it may be cancelled.
        if let readSource {
            if !readSourceRunning { readSource.resume() }
            readSource.cancel()
        }
        if let writeSource {
            if !writeSourceRunning { writeSource.resume() }
            writeSource.cancel()
        }
        readSourceRunning = false
        writeSourceRunning = false
        let handler = self.handler
        self.handler = nil
        handler?.channelClosed(self)
        loop.openChannels.removeValue(forKey: ObjectIdentifier(self))
    }
}

/// Closes a descriptor once every dispatch source watching it has been cancelled, so the number is
/// never reused while a source still refers to it. Its cancel handlers run on one loop queue.
private final class DescriptorCloser: @unchecked Sendable {
    private let fd: Int32
    private var holders: Int

    init(fd: Int32, holders: Int) {
        self.fd = fd
        self.holders = holders
    }

    func release() {
        holders -= 1
        if holders == 0 { System.close(fd) }
    }
}
