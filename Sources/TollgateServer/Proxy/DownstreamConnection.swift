import HTTP1
import Logging
import TollgateCore
import TollgatePlanner
import TollgateTLS

/// One client connection: TLS (or plain) channel, request decoding, and at most one exchange at a time
/// (pipelined requests wait in the decoder's buffer). Confined to its loop's queue.
///
/// Invariants: `exchange` is non-nil from a request head until its response is fully written; the
/// decoder yields nothing for the next request until `finishExchange` prepares it.
final class DownstreamConnection: ChannelHandler, LoopSweepable, @unchecked Sendable {
    enum PauseReason: Hashable { case upstreamBackpressure, pipelined }

    let id: UInt64
    let runtime: GatewayRuntime
    let listenPort: Int
    let channel: Channel
    let tls: TLSConnection?
    /// The newest TLS group this connection's client is known to pass (checked again after a reload).
    var verifiedUnder: TLSServerGroup?
    var loop: EventLoop { channel.loop }
    var identity = PeerIdentity.anonymous {
        didSet { principal = identity.principal }
    }
    /// `identity.principal`, worked out once: every request's metrics and access log name it.
    private(set) var principal: String?
    var serverName: String?
    var decoder: RequestDecoder
    var exchange: Exchange?
    /// Set after an upstream agreed to a WebSocket upgrade: from then on bytes pass unparsed.
    var tunnel: Tunnel?
    /// Set when ALPN chose `h2`: the streams, each with its own exchange, replace `decoder` and `exchange`.
    var http2: HTTP2Downstream?
    var keepAlive = true
    var peerFinishedSending = false
    var requestsServed = 0
    private var pauseReasons: Set<PauseReason> = []
    /// When the connection is closed unless a request arrives (header/idle timeout), checked by the
    /// loop's once-a-second sweep: re-arming it per request costs nothing.
    private var deadline: (nanos: UInt64, reason: String)?
    /// The snapshot `clientCertElementCache` was computed under.
    private weak var clientCertElementSnapshot: ConfigSnapshot?
    private var clientCertElementCache: String?
    /// What the planner is lent per request (`planRequest`): this connection's facts, and its server block's
    /// configuration under the snapshot it was last looked up in.
    var plannerConnection: ConnectionContext?
    var plannerListener: (snapshot: ConfigSnapshot, context: ListenerContext?)?
    /// The client's address: the socket's peer, or behind a balancer what its PROXY header says.
    private(set) var peerHost: String
    private(set) var peerDescription: String
    /// The gateway's address of this connection (`destination.ip` in policies), read once when first needed.
    private(set) lazy var localAddress: IPAddress? = System.localAddress(channel.fd).flatMap { IPAddress($0.host) }
    var logger: Logger { runtime.logger }

    init(id: UInt64, runtime: GatewayRuntime, listenPort: Int, channel: Channel, tls: TLSConnection?) {
        self.id = id
        self.runtime = runtime
        self.listenPort = listenPort
        self.channel = channel
        self.tls = tls
        verifiedUnder = tls?.group
        peerHost = channel.peer?.host ?? "-"
        peerDescription = channel.peer?.description ?? "-"
        decoder = RequestDecoder(limits: runtime.settings.limits)
    }

    var scheme: String { tls == nil ? "http" : "https" }

    /// The XFCC element of the client certificate, naming the Gateway URIs (`By=`) of the snapshot the
    /// request is served under: computed once, again only after a reload.
    func clientCertElement(under snapshot: ConfigSnapshot) -> String? {
        guard identity.verified else { return nil }
        if clientCertElementSnapshot !== snapshot {
            clientCertElementSnapshot = snapshot
            // The connection's identity leaves the PEM out (memory per idle connection): it is read here.
            var certified = identity
            if certified.leafPEM.isEmpty, let tls { certified.leafPEM = tls.peerCertificatePEM() }
            clientCertElementCache = ForwardedHeaders.clientCertElement(
                certified, by: snapshot.listeners[listenPort]?.gatewayURIs[safe: tls?.serverIndex ?? 0] ?? [])
        }
        return clientCertElementCache
    }

    func start() {
        loop.assertOnLoop()
        channel.handler = self
        // The handshake (or, for plain HTTP, the first request) must arrive within the header timeout.
        armTimer(runtime.settings.headerTimeout, reason: "no request within the header timeout")
        channel.start()
    }

    func armTimer(_ milliseconds: Int, reason: String) {
        deadline = (Clock.nowNanos() + UInt64(milliseconds) * 1_000_000, reason)
    }

    func cancelTimer() {
        deadline = nil
    }

    /// Shutting down. A connection the gateway accepted is answered: one still in its handshake or
    /// waiting for its first request gets that response (with `connection: close`), as does one in
    /// the middle of a request. Only a connection idle after a response, with nothing of a next request
    /// received, is closed at once (its client retries on a new connection, as after any keep-alive close).
    func drain() {
        loop.assertOnLoop()
        keepAlive = false
        if let http2 {
            http2.drain()
            return
        }
        // A tunnel stays until the drain deadline (`drainDeadlinePassed`): its client cannot retry elsewhere
        // without losing its session, and most finish their work in time.
        if exchange == nil && tunnel == nil && requestsServed > 0 && decoder.bufferedByteCount == 0 {
            channel.closeAfterFlush()
        }
    }

    /// A reload that changes how this port verifies clients (a CRL that revokes the device, other pins,
    /// SIMPLE to MUTUAL) ends the connections verified the old way at once, mid-request or not: a revoked
    /// device keeps nothing open. A reload that leaves verification alone changes nothing here.
    func configurationChanged(_ snapshot: ConfigSnapshot) {
        loop.assertOnLoop()
        guard let tls, tls.isHandshakeComplete, !stillVerifiedAsConfigured(tls, snapshot: snapshot) else { return }
        logger.info(
            "closing a connection verified under a previous TLS configuration",
            metadata: [
                "connection.id": "\(id)", "peer.address": "\(peerHost)", "tls.sni": "\(serverName ?? "-")",
                "peer.principal": "\(identity.principal ?? "-")",
            ])
        if let http2 {
            http2.terminate()
        } else if let tunnel {
            tunnel.end(graceful: false, details: "downstream_verification_changed")
        } else if exchange != nil {
            exchange?.responseDetails = "downstream_verification_changed"
            abortExchange(reason: "the port's client verification changed")
        } else {
            channel.close()
        }
    }

    /// The drain deadline passed with the connection still open: a tunnel ends now, with its log line.
    func drainDeadlinePassed() {
        tunnel?.end(graceful: false, details: "drain_deadline")
        http2?.endTunnels(details: "drain_deadline")
    }

    func sweep(now: UInt64) {
        loop.assertOnLoop()
        if let http2, !http2.streams.isEmpty {
            http2.sweep(now: now)
            return
        }
        if let active = tunnel?.exchange ?? exchange {
            // Envoy's stream idle timeout: no byte either way for that long ends the exchange, or an upgraded
            // stream's tunnel for its whole life (its route timeout stopped at the 101).
            let idleLimit = UInt64(runtime.settings.streamIdleTimeout) * 1_000_000
            guard now > lastActivityNanos && now - lastActivityNanos > idleLimit else { return }
            logger.info(
                "stream idle timeout", metadata: ["request.id": "\(active.requestID)", "peer.address": "\(peerHost)"])
            if let tunnel {
                tunnel.end(graceful: false, details: "stream_idle_timeout", flags: .streamIdleTimeout)
            } else {
                streamIdleTimedOut()
            }
            return
        }
        guard let deadline, now >= deadline.nanos else { return }
        self.deadline = nil
        logger.debug("closing connection", metadata: ["connection.id": "\(id)", "reason": "\(deadline.reason)"])
        // Closing already (a tunnel's end) and the client left the last bytes unread for a whole timeout: it
        // would otherwise hold its slot and up to a high-water mark of queue for as long as it likes (Envoy's
        // delayed_close_timeout).
        if channel.isWaitingToFlushBeforeClose {
            channel.close()
            return
        }
        closeAfterFlushWithin(runtime.settings.idleTimeout)
    }

    /// Closes once what is queued is written, but no later than `milliseconds` from now: a client that
    /// stops reading cannot keep its slot and queue (the sweep closes it at the deadline).
    func closeAfterFlushWithin(_ milliseconds: Int) {
        channel.closeAfterFlush()
        if channel.isWaitingToFlushBeforeClose {
            armTimer(milliseconds, reason: "the client does not read what is left for it")
        }
    }

    func setReadPaused(_ reason: PauseReason, _ paused: Bool) {
        if paused {
            pauseReasons.insert(reason)
            channel.pauseReading()
        } else if pauseReasons.remove(reason) != nil, pauseReasons.isEmpty {
            channel.resumeReading()
        }
    }

    // MARK: ChannelHandler

    func channelActive(_ channel: Channel) {
        if let proxied = (channel.transport as? ProxyProtocolTransport)?.source {
            peerHost = proxied.address.description
            peerDescription =
                proxied.address.bytes.count == 16 ? "[\(peerHost)]:\(proxied.port)" : "\(peerHost):\(proxied.port)"
        }
        if let tls {
            identity = tls.peerIdentity()
            serverName = tls.serverName
            if identity.verified {
                runtime.lastSeen?.saw(certificateSHA256: identity.leafSHA256)
                if let principal = identity.principal, let notAfter = identity.notAfter {
                    runtime.metrics.clientCertificateExpiry.presented(principal: principal, notAfter: notAfter)
                }
            }
            logger.debug(
                "tls handshake complete",
                metadata: [
                    "connection.id": "\(id)", "peer.address": "\(peerHost)", "tls.sni": "\(serverName ?? "-")",
                    "tls.version": "\(tls.protocolVersion)", "tls.cipher": "\(tls.cipher)",
                    "tls.resumed": "\(tls.sessionReused)",
                    "peer.principal": "\(identity.principal ?? "-")", "peer.subject": "\(identity.subject)",
                ])
            if tls.negotiatedProtocol == "h2" {
                do {
                    let http2 = try HTTP2Downstream(connection: self)
                    self.http2 = http2
                    http2.start()
                } catch {
                    logger.error("cannot start an HTTP/2 session", metadata: ["error": "\(error)"])
                    channel.close()
                    return
                }
            }
        }
        armTimer(runtime.settings.headerTimeout, reason: "no request within the header timeout")
    }

    /// Last time bytes arrived from the client or the upstream (stream idle timeout).
    var lastActivityNanos: UInt64 = 0

    func channel(_ channel: Channel, didRead bytes: UnsafeRawBufferPointer) {
        lastActivityNanos = Clock.nowNanos()
        if let http2 {
            http2.read(bytes)
            return
        }
        if let tunnel {
            tunnel.fromClient(Array(bytes))
            return
        }
        decoder.append(bytes)
        processInput()
    }

    func channelDidReadEOF(_ channel: Channel) {
        peerFinishedSending = true
        if let tunnel {
            tunnel.clientEnded()
            return
        }
        guard let exchange, http2 == nil else {
            channel.closeAfterFlush()
            return
        }
        if !exchange.requestComplete {
            // The client went away mid-request; nothing useful can be answered.
            exchange.responseFlags = .downstreamConnectionTermination
            abortExchange(reason: "downstream closed before the request was complete")
        }
    }

    func channel(_ channel: Channel, didFail failure: TLSFailure) {
        if !channel.isOpen && tls != nil && !(tls?.isHandshakeComplete ?? true) {
            runtime.metrics.handshakeFailed(failure.reason)
            logger.warning(
                "tls handshake failed",
                metadata: [
                    "connection.id": "\(id)", "peer.address": "\(peerHost)", "listener.port": "\(listenPort)",
                    "reason": "\(failure)",
                ])
        } else {
            logger.debug("connection failed", metadata: ["connection.id": "\(id)", "reason": "\(failure)"])
        }
        // A failed handshake lingers (its alert read, its socket not yet closed) and still counts
        // against --max-connections until `channelClosed`.
        if channel.state == .closing {
            cancelTimer()
        } else {
            cleanUp()
        }
    }

    func channelWritabilityChanged(_ channel: Channel, writable: Bool) {
        if let http2 {
            if writable { http2.flush() }
            return
        }
        if let tunnel {
            tunnel.downstreamWritabilityChanged(writable: writable)
            return
        }
        guard let upstream = exchange?.upstream else { return }
        if writable { upstream.resumeReading() } else { upstream.pauseReading() }
    }

    func channelClosed(_ channel: Channel) {
        cleanUp()
    }

    private var cleanedUp = false

    /// Runs once, however the connection ended (failure and close may both report).
    private func cleanUp() {
        guard !cleanedUp else { return }
        cleanedUp = true
        cancelTimer()
        tunnel?.clientGone(flags: .downstreamConnectionTermination)
        http2?.connectionClosed()
        if let exchange {
            exchange.cancelTimers()
            exchange.upstream?.close()
            self.exchange = nil
        }
        runtime.connectionClosed(id)
    }

    // MARK: Input

    func processInput() {
        do {
            while channel.isOpen, let event = try decoder.next() {
                switch event {
                case .head(let head): beginRequest(head)
                case .body(let bytes): requestBody(bytes)
                case .end: requestEnd()
                }
            }
            if !channel.isOpen { return }
            if peerFinishedSending, exchange == nil, let event = try decoder.finishAtEOF(), case .end = event {
                requestEnd()
            }
        } catch let error as HTTPParseError {
            requestMalformed(error)
        } catch {
            requestMalformed(HTTPParseError(status: 400, "\(error)"))
        }
        // Pipelined bytes wait in the decoder; stop reading once a request's worth is queued.
        setReadPaused(.pipelined, exchange != nil && decoder.bufferedByteCount > runtime.settings.limits.maxHeaderBytes)
    }

    func requestMalformed(_ error: HTTPParseError) {
        logger.info(
            "malformed request",
            metadata: ["connection.id": "\(id)", "peer.address": "\(peerHost)", "reason": "\(error.reason)"])
        keepAlive = false
        // RFC 6455 §4.4: a refused WebSocket version is answered with the versions understood.
        let extra = error.status == 426 ? [("sec-websocket-version", "13")] : []
        if let exchange {
            if exchange.responseStarted {
                abortExchange(reason: "malformed request body: \(error.reason)")
                return
            }
            exchange.upstream?.close()
            exchange.upstream = nil
            exchange.responseDetails = "downstream_protocol_error"
            exchange.responseFlags = .downstreamProtocolError
            respondLocally(status: error.status, body: Array("\(error.reason)\n".utf8), extraHeaders: extra)
        } else {
            let head = RequestHead(method: "-", target: "-", headers: HTTPHeaders())
            let exchange = Exchange(
                head: head, snapshot: runtime.current, startNanos: Clock.nowNanos(), requestID: Clock.uuid(),
                normalizedPath: "-")
            exchange.responseFlags = .downstreamProtocolError
            exchange.responseDetails = "downstream_protocol_error"
            self.exchange = exchange
            respondLocally(status: error.status, body: Array("\(error.reason)\n".utf8), extraHeaders: extra)
        }
    }

    /// Stops an exchange that cannot finish cleanly and drops the connection.
    func abortExchange(reason: String) {
        if let exchange {
            exchange.cancelTimers()
            exchange.upstream?.close()
            exchange.upstream = nil
            logAccess(exchange)
            self.exchange = nil
        }
        logger.debug("exchange aborted", metadata: ["connection.id": "\(id)", "reason": "\(reason)"])
        channel.close()
    }

    /// Called once the response is fully queued: recycle the upstream, log, and read the next request.
    func finishExchange() {
        guard let exchange else { return }
        exchange.cancelTimers()
        logAccess(exchange)
        self.exchange = nil
        requestsServed += 1
        if !keepAlive || !exchange.requestComplete || peerFinishedSending {
            closeAfterFlushWithin(runtime.settings.idleTimeout)
            return
        }
        decoder.prepareForNextMessage()
        armTimer(runtime.settings.idleTimeout, reason: "idle keep-alive connection")
        setReadPaused(.upstreamBackpressure, false)
        setReadPaused(.pipelined, false)
        if decoder.bufferedByteCount > 0 { processInput() }
    }

    func logAccess(_ e: Exchange) {
        let duration = Int((Clock.nowNanos() - e.startNanos) / 1_000_000)
        loop.requestMetrics(runtime.metrics).record(
            status: e.status, flags: e.responseFlags, principal: principal,
            destination: e.destinationHost, milliseconds: duration,
            requestProtocol: RequestMetrics.requestProtocol(contentType: e.head.headers["content-type"]))
        guard runtime.accessLog.enabled else { return }
        loop.accessLog.append(
            e, durationMilliseconds: duration, peer: peerDescription, serverName: serverName, principal: principal)
    }
}
