internal import CNGHTTP2
import HTTP1
import TollgateCore

/// Limits an HTTP/2 connection holds its client to.
public struct HTTP2Settings: Sendable, Equatable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2); nghttp2 refuses streams beyond it.
    public var maxConcurrentStreams: UInt32 = 100
    /// The request header block, counted as HPACK does (name + value + 32 per field, RFC 9113 §6.5.2), and the
    /// field count: the same bounds as an HTTP/1.1 head.
    public var limits = HTTPLimits()
    /// Per-stream receive window: how much of a request body the client may send ahead of the upstream.
    public var streamWindow: Int32 = 256 * 1024
    /// Connection receive window: several streams' worth, so one stream whose upstream reads slowly
    /// cannot hold the whole connection's window.
    public var connectionWindow: Int32 = 4 * 1024 * 1024
    /// RST_STREAM frames a client may send in a burst, and per second after it (CVE-2023-44487, "rapid
    /// reset"); past them the connection gets GOAWAY and is closed.
    public var resetBurst: UInt64 = 200
    public var resetsPerSecond: UInt64 = 100
    /// CONTINUATION frames after one HEADERS frame (CVE-2024-28182); past them the connection is closed.
    public var maxContinuations = 8

    public init() {}
}

/// What the client did, in the order it happened.
public enum HTTP2Event: Sendable {
    /// A request header block: a head the planner can take, or why it is not one (answered on the stream).
    case request(streamID: Int32, Result<RequestHead, HTTPParseError>, endStream: Bool)
    case data(streamID: Int32, [UInt8])
    /// The request (body and any trailers) is complete.
    case end(streamID: Int32)
    /// The stream is gone: answered and closed, or reset by either side (`errorCode` from RFC 9113 §7).
    case closed(streamID: Int32, errorCode: UInt32)
}

/// A connection-level failure: the session has queued GOAWAY; flush `output()` and close.
public struct HTTP2SessionError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// The server side of one HTTP/2 connection on libnghttp2: bytes in, events and bytes out, no I/O, so tests
/// pair it with an nghttp2 client session in memory.
///
/// Invariants: used from one thread at a time (the owning connection's loop). Request bodies are flow
/// controlled by the caller: DATA is not acknowledged (WINDOW_UPDATE) until `consume` says the bytes have
/// been passed on, so a client can be ahead of its upstream by at most one stream window. Response bodies
/// are pulled by nghttp2 from a per-stream buffer as the client's windows allow; an empty buffer defers the
/// stream, and `sendBody`/`endBody` resume it.
public final class HTTP2ServerSession {
    private var session: OpaquePointer!
    public let settings: HTTP2Settings
    private var streams: [Int32: StreamState] = [:]
    private var events: [HTTP2Event] = []
    /// Body bytes of streams that closed before the caller consumed them: returned to the connection window.
    private var orphanedBytes = 0

    struct StreamState {
        var fields: [(name: String, value: String)] = []
        var headerBytes = 0
        var oversized = false
        var unconsumed = 0
        var outbound: [UInt8] = []
        var outboundOffset = 0
        var outboundEnded = false
        var deferred = false
        /// `endAfterResponse`: reset once the stream's END_STREAM has left, if the client is still sending.
        var endsAfterResponse = false
        var bufferedOutbound: Int { outbound.count - outboundOffset }
    }

    public init(settings: HTTP2Settings = HTTP2Settings()) throws(HTTP2SessionError) {
        self.settings = settings
        var callbacks: OpaquePointer?
        var option: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, nghttp2_option_new(&option) == 0 else {
            throw HTTP2SessionError(description: "out of memory")
        }
        defer {
            nghttp2_session_callbacks_del(callbacks)
            nghttp2_option_del(option)
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameReceived)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunk)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSent)
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_stream_reset_rate_limit(option, settings.resetBurst, settings.resetsPerSecond)
        nghttp2_option_set_max_continuations(option, settings.maxContinuations)
        let me = Unmanaged.passUnretained(self).toOpaque()
        guard nghttp2_session_server_new2(&session, callbacks, me, option) == 0 else {
            throw HTTP2SessionError(description: "cannot create an HTTP/2 session")
        }
        let entries = [
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                value: settings.maxConcurrentStreams),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(settings.streamWindow)),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                value: UInt32(settings.limits.maxHeaderBytes)),
            // RFC 8441 §3: WebSocket over extended CONNECT (`:protocol`); nghttp2 then holds such a request to
            // §4 (CONNECT with :scheme, :path and :authority) and refuses `:protocol` on any other method.
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL.rawValue), value: 1),
        ]
        guard nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), entries, entries.count) == 0,
            nghttp2_session_set_local_window_size(
                session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, settings.connectionWindow) == 0
        else { throw HTTP2SessionError(description: "cannot queue the server's SETTINGS") }
    }

    deinit { nghttp2_session_del(session) }

    /// Takes bytes from the client and returns what they meant. A thrown error is fatal to the connection.
    public func receive(_ bytes: UnsafeRawBufferPointer) throws(HTTP2SessionError) -> [HTTP2Event] {
        let rc = nghttp2_session_mem_recv(session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        returnOrphanedBytes()
        let received = takeEvents()
        if rc < 0 {
            // Fatal to the connection (bad preface, flood, too many CONTINUATION frames…). nghttp2 queues no
            // GOAWAY for some of these; this one is ignored when it has.
            let code =
                rc == Int(NGHTTP2_ERR_FLOODED.rawValue) || rc == Int(NGHTTP2_ERR_TOO_MANY_CONTINUATIONS.rawValue)
                ? NGHTTP2_ENHANCE_YOUR_CALM.rawValue : NGHTTP2_PROTOCOL_ERROR.rawValue
            _ = nghttp2_session_terminate_session(session, code)
            throw HTTP2SessionError(description: String(cString: nghttp2_strerror(Int32(rc))))
        }
        return received
    }

    /// Bytes to send to the client: SETTINGS, responses, DATA as windows allow, WINDOW_UPDATE, GOAWAY.
    public func output() throws(HTTP2SessionError) -> [UInt8] {
        // Streams closed since the last read (answered while their body was still arriving) give back their
        // share of the connection window now, or a client waiting for window would wait for ever.
        returnOrphanedBytes()
        var bytes: [UInt8] = []
        while true {
            var data: UnsafePointer<UInt8>?
            let count = nghttp2_session_mem_send(session, &data)
            if count < 0 { throw HTTP2SessionError(description: String(cString: nghttp2_strerror(Int32(count)))) }
            guard count > 0, let data else { break }
            bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: count))
        }
        return bytes
    }

    /// Events that happened while sending: a stream closes when its last DATA frame leaves.
    public func takeEvents() -> [HTTP2Event] {
        guard !events.isEmpty else { return [] }
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    /// The session has nothing more to read or write: GOAWAY was exchanged and every stream is done.
    public var isFinished: Bool { nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 }

    // MARK: Responses

    /// Queues a response head; with `hasBody` the body follows through `sendBody`/`endBody`.
    public func respond(streamID: Int32, status: Int, headers: HTTPHeaders, hasBody: Bool) {
        var fields: [(String, String)] = [(":status", String(status))]
        for (name, value) in headers {
            let lower = name.lowercasedASCII()
            // RFC 9113 §8.2.2: an HTTP/1.1 upstream's connection-specific fields do not cross to HTTP/2.
            if HTTP2RequestHead.connectionSpecific.contains(lower) || lower == "te" { continue }
            fields.append((lower, value))
        }
        withFields(fields) { nva in
            if hasBody {
                var provider = nghttp2_data_provider(
                    source: nghttp2_data_source(ptr: nil), read_callback: readResponseBody)
                _ = nghttp2_submit_response(session, streamID, nva.baseAddress, nva.count, &provider)
            } else {
                _ = nghttp2_submit_response(session, streamID, nva.baseAddress, nva.count, nil)
            }
        }
    }

    /// `100 Continue` (RFC 9110 §10.1.1) to a client that sent `expect: 100-continue`: an interim HEADERS frame.
    public func sendContinue(streamID: Int32) {
        withFields([(":status", "100")]) { nva in
            _ = nghttp2_submit_headers(
                session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, nil, nva.baseAddress, nva.count, nil)
        }
    }

    public func sendBody(streamID: Int32, _ bytes: [UInt8]) {
        guard !bytes.isEmpty, streams[streamID] != nil else { return }
        streams[streamID]!.outbound.append(contentsOf: bytes)
        resumeIfDeferred(streamID)
    }

    public func endBody(streamID: Int32) {
        guard streams[streamID] != nil else { return }
        streams[streamID]!.outboundEnded = true
        resumeIfDeferred(streamID)
    }

    /// Response bytes of a stream not yet framed: the client's window for it is shut or the socket is slow.
    public func bufferedResponseBytes(streamID: Int32) -> Int { streams[streamID]?.bufferedOutbound ?? 0 }

    /// Ends one stream (RFC 9113 §5.4.2), e.g. when its upstream failed after the response started.
    public func reset(streamID: Int32, errorCode: UInt32 = HTTP2ServerSession.internalError) {
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, errorCode)
    }

    /// Once the stream's END_STREAM has left, a client that has not ended its side is told to stop: RST_STREAM
    /// NO_ERROR (RFC 9113 §8.1), as Envoy resets a stream whose response completed first. For tunnels only:
    /// curl 7.88 fails an ordinary request reset this way while its upload is unfinished.
    public func endAfterResponse(streamID: Int32) {
        guard streams[streamID] != nil else { return }
        streams[streamID]!.endsAfterResponse = true
    }

    /// Request body bytes of a stream have been passed on: the client may send that many more.
    public func consume(streamID: Int32, _ count: Int) {
        guard count > 0, var state = streams[streamID] else { return }
        let taken = min(count, state.unconsumed)
        state.unconsumed -= taken
        streams[streamID] = state
        _ = nghttp2_session_consume(session, streamID, taken)
    }

    /// Graceful shutdown (drain, reload): GOAWAY naming the last stream taken; those streams finish.
    public func goAway() {
        _ = nghttp2_submit_goaway(
            session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
            NGHTTP2_NO_ERROR.rawValue, nil, 0)
    }

    /// Ends the connection at once with GOAWAY carrying `errorCode`; every stream is closed.
    public func terminate(errorCode: UInt32) {
        _ = nghttp2_session_terminate_session(session, errorCode)
    }

    public static let noError = NGHTTP2_NO_ERROR.rawValue
    public static let internalError = NGHTTP2_INTERNAL_ERROR.rawValue
    public static let enhanceYourCalm = NGHTTP2_ENHANCE_YOUR_CALM.rawValue
    public static let refusedStream = NGHTTP2_REFUSED_STREAM.rawValue
    public static let cancel = NGHTTP2_CANCEL.rawValue
    public static let http11Required = NGHTTP2_HTTP_1_1_REQUIRED.rawValue

    // MARK: Internals

    private func resumeIfDeferred(_ streamID: Int32) {
        guard streams[streamID]?.deferred == true else { return }
        streams[streamID]!.deferred = false
        _ = nghttp2_session_resume_data(session, streamID)
    }

    private func returnOrphanedBytes() {
        guard orphanedBytes > 0 else { return }
        _ = nghttp2_session_consume_connection(session, orphanedBytes)
        orphanedBytes = 0
    }

    private func withFields(_ fields: [(String, String)], _ body: (UnsafeBufferPointer<nghttp2_nv>) -> Void) {
        // nghttp2 copies names and values during the submit call, so one buffer that lives for the call
        // suffices; the extra byte keeps its address valid when every name and value is empty.
        var storage: [UInt8] = []
        var spans: [(name: Range<Int>, value: Range<Int>)] = []
        for (name, value) in fields {
            let nameStart = storage.count
            storage.append(contentsOf: name.utf8)
            let valueStart = storage.count
            storage.append(contentsOf: value.utf8)
            spans.append((nameStart..<valueStart, valueStart..<storage.count))
        }
        storage.append(0)
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            let nva = spans.map { span in
                nghttp2_nv(
                    name: base + span.name.lowerBound, value: base + span.value.lowerBound, namelen: span.name.count,
                    valuelen: span.value.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            nva.withUnsafeBufferPointer { body($0) }
        }
    }

    fileprivate static func from(_ userData: UnsafeMutableRawPointer?) -> HTTP2ServerSession {
        Unmanaged<HTTP2ServerSession>.fromOpaque(userData!).takeUnretainedValue()
    }

    fileprivate func beginHeaders(_ frame: UnsafePointer<nghttp2_frame>) {
        guard frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
            frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST
        else { return }
        streams[frame.pointee.hd.stream_id] = StreamState()
    }

    fileprivate func header(_ frame: UnsafePointer<nghttp2_frame>, name: String, value: String) {
        let id = frame.pointee.hd.stream_id
        // Trailers are not forwarded to an HTTP/1.1 upstream; only the request's own block is kept.
        guard frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST, var state = streams[id] else { return }
        state.headerBytes += name.utf8.count + value.utf8.count + 32
        if state.headerBytes > settings.limits.maxHeaderBytes {
            state.oversized = true
            state.fields.removeAll()
        } else if !state.oversized {
            state.fields.append((name, value))
        }
        streams[id] = state
    }

    fileprivate func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) {
        let id = frame.pointee.hd.stream_id
        let endStream = frame.pointee.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch UInt32(frame.pointee.hd.type) {
        case NGHTTP2_HEADERS.rawValue:
            if frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST, let state = streams[id] {
                let head: Result<RequestHead, HTTPParseError>
                if state.oversized {
                    head = .failure(
                        HTTPParseError(
                            status: 431, "request headers larger than \(settings.limits.maxHeaderBytes) bytes"))
                } else {
                    head = Result { () throws(HTTPParseError) in
                        try HTTP2RequestHead.make(state.fields, limits: settings.limits)
                    }
                }
                streams[id]!.fields = []
                events.append(.request(streamID: id, head, endStream: endStream))
            } else if endStream {
                events.append(.end(streamID: id))
            }
        case NGHTTP2_DATA.rawValue:
            if endStream { events.append(.end(streamID: id)) }
        default:
            break
        }
    }

    fileprivate func frameSent(_ frame: UnsafePointer<nghttp2_frame>) {
        let id = frame.pointee.hd.stream_id
        let type = UInt32(frame.pointee.hd.type)
        guard type == NGHTTP2_HEADERS.rawValue || type == NGHTTP2_DATA.rawValue,
            frame.pointee.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
            streams[id]?.endsAfterResponse == true, nghttp2_session_get_stream_remote_close(session, id) == 0
        else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_NO_ERROR.rawValue)
    }

    fileprivate func dataChunk(streamID: Int32, _ bytes: UnsafeBufferPointer<UInt8>) {
        // An empty chunk would become the terminating chunk of a chunked upstream body.
        guard !bytes.isEmpty else { return }
        guard streams[streamID] != nil else {
            orphanedBytes += bytes.count
            return
        }
        streams[streamID]!.unconsumed += bytes.count
        events.append(.data(streamID: streamID, Array(bytes)))
    }

    fileprivate func streamClosed(_ streamID: Int32, errorCode: UInt32) {
        guard let state = streams.removeValue(forKey: streamID) else { return }
        orphanedBytes += state.unconsumed
        events.append(.closed(streamID: streamID, errorCode: errorCode))
    }

    fileprivate func readBody(
        streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int, flags: UnsafeMutablePointer<UInt32>
    ) -> Int {
        // Taken out of the dictionary while it changes, so its buffer is not copied on write.
        guard var state = streams.removeValue(forKey: streamID) else {
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        defer { streams[streamID] = state }
        let count = min(length, state.bufferedOutbound)
        if count > 0 {
            state.outbound.withUnsafeBufferPointer { source in
                buffer.update(from: source.baseAddress! + state.outboundOffset, count: count)
            }
            state.outboundOffset += count
            if state.outboundOffset == state.outbound.count {
                state.outbound.removeAll(keepingCapacity: true)
                state.outboundOffset = 0
            } else if state.outboundOffset >= 64 * 1024 && state.outboundOffset * 2 >= state.outbound.count {
                // A stream fed as fast as it drains (a tunnel, a long download) never empties its buffer: the
                // sent part is dropped here, or the buffer would grow by everything that ever passed through.
                state.outbound.removeFirst(state.outboundOffset)
                state.outboundOffset = 0
            }
        }
        if state.bufferedOutbound == 0 && state.outboundEnded {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
        } else if count == 0 {
            state.deferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        return count
    }

    /// Response bodies are buffered per stream until nghttp2 frames them; after a stream is closed nothing
    /// is kept. Counted for the caller's memory bound.
    public var streamCount: Int { streams.count }
}

// C callbacks: free functions that find their session through the user data (nghttp2 passes it back).

private let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
    guard let frame else { return 0 }
    HTTP2ServerSession.from(userData).beginHeaders(frame)
    return 0
}

private let onHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
    guard let frame, let name, let value else { return 0 }
    HTTP2ServerSession.from(userData).header(
        frame, name: String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
        value: String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self))
    return 0
}

private let onFrameReceived: nghttp2_on_frame_recv_callback = { _, frame, userData in
    guard let frame else { return 0 }
    HTTP2ServerSession.from(userData).frameReceived(frame)
    return 0
}

private let onFrameSent: nghttp2_on_frame_send_callback = { _, frame, userData in
    guard let frame else { return 0 }
    HTTP2ServerSession.from(userData).frameSent(frame)
    return 0
}

private let onDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
    HTTP2ServerSession.from(userData).dataChunk(streamID: streamID, UnsafeBufferPointer(start: data, count: length))
    return 0
}

private let onStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    HTTP2ServerSession.from(userData).streamClosed(streamID, errorCode: errorCode)
    return 0
}

private let readResponseBody: nghttp2_data_source_read_callback = {
    _, streamID, buffer, length, flags, _, userData in
    guard let buffer, let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
    return HTTP2ServerSession.from(userData).readBody(streamID: streamID, into: buffer, length: length, flags: flags)
}
