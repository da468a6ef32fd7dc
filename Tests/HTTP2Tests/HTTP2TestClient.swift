import CNGHTTP2
import HTTP2

/// An nghttp2 client session in memory, the peer `HTTP2ServerSession` is tested against: what a real
/// HTTP/2 client library sends, byte for byte, without sockets.
final class HTTP2TestClient {
    struct Response {
        var status: Int?
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        var closed = false
        var errorCode: UInt32 = 0
    }

    private var session: OpaquePointer!
    var responses: [Int32: Response] = [:]
    var goAwayCode: UInt32?
    /// Request body bytes per stream still to send; the data provider hands them out as windows allow.
    var pendingBodies: [Int32: (bytes: [UInt8], offset: Int)] = [:]

    /// With `streamWindow`, response DATA is acknowledged only by `consume`, like a client that reads slowly.
    init(streamWindow: UInt32? = nil) {
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) {
            _, frame, name, nameLength, value, valueLength, _, user in
            let client = Unmanaged<HTTP2TestClient>.fromOpaque(user!).takeUnretainedValue()
            let name = String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self)
            let value = String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)
            let id = frame!.pointee.hd.stream_id
            if name == ":status" {
                client.responses[id, default: Response()].status = Int(value)
            } else {
                client.responses[id, default: Response()].headers.append((name, value))
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, id, data, length, user in
            let client = Unmanaged<HTTP2TestClient>.fromOpaque(user!).takeUnretainedValue()
            client.responses[id, default: Response()].body += UnsafeBufferPointer(start: data, count: length)
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, id, code, user in
            let client = Unmanaged<HTTP2TestClient>.fromOpaque(user!).takeUnretainedValue()
            client.responses[id, default: Response()].closed = true
            client.responses[id, default: Response()].errorCode = code
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            let client = Unmanaged<HTTP2TestClient>.fromOpaque(user!).takeUnretainedValue()
            if frame!.pointee.hd.type == UInt8(NGHTTP2_GOAWAY.rawValue) {
                client.goAwayCode = frame!.pointee.goaway.error_code
            }
            return 0
        }
        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        if streamWindow != nil { nghttp2_option_set_no_auto_window_update(option, 1) }
        nghttp2_session_client_new2(&session, callbacks, Unmanaged.passUnretained(self).toOpaque(), option)
        var entries: [nghttp2_settings_entry] = []
        if let streamWindow {
            entries.append(
                nghttp2_settings_entry(
                    settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: streamWindow))
        }
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), entries, entries.count)
    }

    deinit { nghttp2_session_del(session) }

    /// Opens a stream; a body is sent through a data provider as the server's windows allow.
    @discardableResult
    func request(
        method: String = "GET", path: String = "/", authority: String = "example.test",
        headers: [(String, String)] = [], body: [UInt8]? = nil
    ) -> Int32 {
        let fields = [(":method", method), (":scheme", "https"), (":authority", authority), (":path", path)] + headers
        return submit(fields, body: body)
    }

    /// Submits exactly these fields (pseudo-headers included), however malformed.
    func submit(_ fields: [(String, String)], body: [UInt8]? = nil) -> Int32 {
        var storage: [UInt8] = []
        var spans: [(Range<Int>, Range<Int>)] = []
        for (name, value) in fields {
            let a = storage.count
            storage += Array(name.utf8)
            let b = storage.count
            storage += Array(value.utf8)
            spans.append((a..<b, b..<storage.count))
        }
        storage.append(0)
        return storage.withUnsafeMutableBufferPointer { buffer in
            let nva = spans.map {
                nghttp2_nv(
                    name: buffer.baseAddress! + $0.0.lowerBound, value: buffer.baseAddress! + $0.1.lowerBound,
                    namelen: $0.0.count, valuelen: $0.1.count,
                    flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            guard body != nil else { return nghttp2_submit_request(session, nil, nva, nva.count, nil, nil) }
            var provider = nghttp2_data_provider(
                source: nghttp2_data_source(ptr: nil),
                read_callback: { _, id, buffer, length, flags, _, user in
                    let client = Unmanaged<HTTP2TestClient>.fromOpaque(user!).takeUnretainedValue()
                    guard let pending = client.pendingBodies[id] else {
                        flags!.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                        return 0
                    }
                    let count = min(length, pending.bytes.count - pending.offset)
                    pending.bytes.withUnsafeBufferPointer {
                        buffer!.update(from: $0.baseAddress! + pending.offset, count: count)
                    }
                    client.pendingBodies[id]!.offset += count
                    if pending.offset + count == pending.bytes.count {
                        flags!.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                        client.pendingBodies[id] = nil
                    }
                    return count
                })
            let id = nghttp2_submit_request(session, nil, nva, nva.count, &provider, nil)
            pendingBodies[id] = (body!, 0)
            return id
        }
    }

    func reset(_ streamID: Int32) {
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_CANCEL.rawValue)
    }

    /// Acknowledges response bytes (the client's own flow control, used to shut a stream's window).
    func consume(_ streamID: Int32, _ count: Int) { nghttp2_session_consume(session, streamID, count) }

    func output() -> [UInt8] {
        var bytes: [UInt8] = []
        while true {
            var data: UnsafePointer<UInt8>?
            let count = nghttp2_session_mem_send(session, &data)
            guard count > 0, let data else { break }
            bytes += UnsafeBufferPointer(start: data, count: count)
        }
        return bytes
    }

    func receive(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBufferPointer { nghttp2_session_mem_recv(session, $0.baseAddress, $0.count) }
    }
}

/// Moves bytes both ways until neither side has anything to say, collecting the server's events.
func exchange(_ client: HTTP2TestClient, _ server: HTTP2ServerSession, rounds: Int = 50) throws -> [HTTP2Event] {
    var events: [HTTP2Event] = []
    for _ in 0..<rounds {
        let up = client.output()
        if !up.isEmpty { events += try up.withUnsafeBytes { try server.receive($0) } }
        let down = try server.output()
        events += server.takeEvents()
        if !down.isEmpty { client.receive(down) }
        if up.isEmpty && down.isEmpty { break }
    }
    return events
}
