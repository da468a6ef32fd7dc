import HTTP2
import TollgateCore

/// The HTTP/2 side of a client connection whose handshake chose `h2` (RFC 9113): one nghttp2 session and
/// its streams, each an `HTTP2Stream` carrying one exchange. Owned by its `DownstreamConnection` (which
/// keeps the TLS identity, timers and access log) and confined to its loop.
///
/// Invariants: bytes leave the session only while the channel is writable, so a slow client leaves response
/// bytes in the per-stream buffers, whose size pauses that stream's upstream (and only that one); a stream
/// is in `streams` from its request headers until nghttp2 reports it closed.
final class HTTP2Downstream: @unchecked Sendable {
    unowned let connection: DownstreamConnection
    let session: HTTP2ServerSession
    private(set) var streams: [Int32: HTTP2Stream] = [:]
    /// One of the streams holds the upstream socket the connection's own slot stands for
    /// (`HTTP2Stream.takeUpstreamAllowance`).
    var connectionSlotUpstreamTaken = false
    private var flushing = false
    private var flushAgain = false
    private var draining = false
    private var refusedStreams = 0

    /// A stream's upstream stops being read above this many unsent response bytes, and resumes below the low mark.
    static let responseHighWater = 256 * 1024
    static let responseLowWater = 64 * 1024

    init(connection: DownstreamConnection) throws {
        self.connection = connection
        var settings = HTTP2Settings()
        settings.limits = connection.runtime.settings.limits
        session = try HTTP2ServerSession(settings: settings)
    }

    /// Sends the server's SETTINGS (its connection preface).
    func start() { flush() }

    func read(_ bytes: UnsafeRawBufferPointer) {
        let events: [HTTP2Event]
        do {
            events = try session.receive(bytes)
        } catch {
            // nghttp2 queued GOAWAY (bad preface, flood, protocol error): send it and close.
            connection.logger.info(
                "http/2 connection error",
                metadata: [
                    "connection.id": "\(connection.id)", "peer.address": "\(connection.peerHost)",
                    "reason": "\(error)",
                ])
            flush()
            connection.channel.closeAfterFlush()
            return
        }
        handle(events)
        flush()
    }

    private func handle(_ events: [HTTP2Event]) {
        // A stream reset in the same read as its HEADERS is never planned or forwarded: a rapid-reset client
        // costs the gateway no upstream work (CVE-2023-44487).
        var closedNow: Set<Int32> = []
        for case .closed(let id, _) in events { closedNow.insert(id) }
        for event in events {
            switch event {
            case .request(let id, let head, let endStream):
                guard !closedNow.contains(id), connection.channel.isOpen else { continue }
                if connection.tls?.refusalDeferredToHTTP11 == true {
                    refuse(id)
                    continue
                }
                let stream = HTTP2Stream(id: id, owner: self)
                streams[id] = stream
                connection.cancelTimer()
                stream.begin(head, endStream: endStream)
            case .data(let id, let bytes):
                if let stream = streams[id] {
                    stream.requestBody(bytes)
                } else {
                    session.consume(streamID: id, bytes.count)
                }
            case .end(let id):
                streams[id]?.requestEnd()
            case .closed(let id, let errorCode):
                // Only a stream that was taken makes the connection idle again: a refused or reset one must
                // not re-arm the timer (its client would keep the connection by opening one now and then).
                guard let stream = streams.removeValue(forKey: id) else { continue }
                stream.streamClosed(errorCode: errorCode)
                if streams.isEmpty { becameIdle() }
            }
        }
    }

    /// A client without the certificate its block requires (`refusalDeferredToHTTP11`) gets HTTP_1_1_REQUIRED on
    /// every stream, before its head is even judged (no 400 or 431 either), and no stream makes its connection
    /// busy or idle, so the header timeout still ends it. A browser stops after the first refusal; a client
    /// that goes on opening streams past one round of the concurrency limit loses the connection.
    private func refuse(_ id: Int32) {
        refusedStreams += 1
        if refusedStreams == 1 {
            connection.logger.info(
                "client certificate refused over h2: streams answered HTTP_1_1_REQUIRED",
                metadata: ["connection.id": "\(connection.id)", "peer.address": "\(connection.peerHost)"])
        }
        if refusedStreams > Int(session.settings.maxConcurrentStreams) {
            session.terminate(errorCode: HTTP2ServerSession.http11Required)
        } else {
            session.reset(streamID: id, errorCode: HTTP2ServerSession.http11Required)
        }
    }

    /// Moves what the session has to send into the channel, while the channel takes it; handles streams
    /// that closed as their last frame left; resumes upstreams whose stream has room again.
    func flush() {
        if flushing {
            flushAgain = true
            return
        }
        flushing = true
        defer { flushing = false }
        repeat {
            flushAgain = false
            if connection.channel.isOpen && connection.channel.isWritable {
                do {
                    let bytes = try session.output()
                    if !bytes.isEmpty { connection.channel.write(bytes) }
                } catch {
                    connection.channel.close()
                    return
                }
            }
            let events = session.takeEvents()
            if !events.isEmpty {
                handle(events)
                flushAgain = true
            }
        } while flushAgain && connection.channel.isOpen
        for stream in streams.values { stream.resumeUpstreamIfRoom() }
        if session.isFinished || (draining && streams.isEmpty) { connection.channel.closeAfterFlush() }
    }

    /// Shutting down or reloading: GOAWAY, the streams already taken finish, then the connection closes.
    func drain() {
        draining = true
        session.goAway()
        flush()
    }

    /// Ends the connection at once (its client's verification no longer holds): GOAWAY, then close; streams
    /// in flight end with it, their upstreams closed.
    func terminate() {
        endTunnels(details: "downstream_verification_changed")
        session.terminate(errorCode: HTTP2ServerSession.noError)
        flush()
        connection.channel.closeAfterFlush()
    }

    /// Ends every WebSocket tunnel on the connection at once (the drain deadline, a verification that no longer
    /// holds), each with its access log line saying why.
    func endTunnels(details: String) {
        for stream in streams.values { stream.tunnel?.end(graceful: false, details: details) }
        flush()
    }

    private func becameIdle() {
        guard !draining else { return }
        connection.armTimer(connection.runtime.settings.idleTimeout, reason: "idle HTTP/2 connection")
    }

    /// The channel closed: every stream still open ends with it.
    func connectionClosed() {
        let open = streams.values
        streams.removeAll()
        for stream in open { stream.streamClosed(errorCode: HTTP2ServerSession.internalError) }
    }

    /// The stream idle timeout, per stream (the loop's once-a-second sweep). It also ends a stream whose
    /// exchange is over but whose body the client does not take (no window): that body is buffered here, and the
    /// stream would otherwise keep it, and its connection, for ever. A stream still open a second timeout after
    /// its reset means the client reads nothing at all, not even the reset: the connection is closed.
    func sweep(now: UInt64) {
        let limit = UInt64(connection.runtime.settings.streamIdleTimeout) * 1_000_000
        var unreadable = false
        for stream in streams.values {
            stream.noteResponseProgress(now: now)
            guard now > stream.lastActivityNanos && now - stream.lastActivityNanos > limit else { continue }
            if let tunnel = stream.tunnel {
                connection.logger.info(
                    "stream idle timeout",
                    metadata: ["request.id": "\(tunnel.exchange.requestID)", "peer.address": "\(connection.peerHost)"])
                tunnel.end(graceful: false, details: "stream_idle_timeout", flags: .streamIdleTimeout)
            } else if stream.exchange != nil {
                stream.streamIdleTimedOut()
            } else if !stream.idleReset {
                stream.idleReset = true
                connection.logger.info(
                    "stream idle timeout: the client takes none of its response",
                    metadata: ["connection.id": "\(connection.id)", "stream.id": "\(stream.id)"])
                session.reset(streamID: stream.id, errorCode: HTTP2ServerSession.cancel)
            } else if now - stream.lastActivityNanos > 2 * limit {
                unreadable = true
            }
        }
        flush()
        if unreadable { connection.channel.close() }
    }
}
