import HTTP1
import TollgateCore
import TollgateTLS

/// The demo upstream's `/ws/echo`: a minimal RFC 6455 server that sends every data frame back as it came
/// (same opcode, same FIN, so fragmented messages echo fragmented), answers pings, and returns the close
/// frame. Blocking, one thread per connection, like the rest of the demo upstream.
struct WebSocketEcho {
    let connection: BlockingConnection
    /// Larger frames are refused with close code 1009 (message too big).
    static let maxFrameBytes = 64 << 20

    /// `/ws/`: a page that opens a WebSocket to `/ws/echo` on its own origin, sends one message and shows
    /// the echo (the demo's way to try a tunnel from a browser).
    static let page = """
        <!doctype html>
        <html lang="en"><meta charset="utf-8"><title>WebSocket echo</title>
        <p>Sent: <code id="sent">-</code></p>
        <p>Echo: <code id="echo">connecting</code></p>
        <script>
        const echo = document.getElementById("echo");
        const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/echo");
        socket.onopen = () => {
          const message = "hello through the gateway " + Date.now();
          document.getElementById("sent").textContent = message;
          socket.send(message);
        };
        socket.onmessage = (event) => { echo.textContent = event.data; socket.close(1000, "done"); };
        socket.onerror = () => { echo.textContent = "error"; };
        socket.onclose = (event) => { document.body.dataset.closed = String(event.code); };
        </script>
        </html>

        """

    /// Answers the opening handshake; `false` when it is not a valid one (a 400 was sent).
    static func accept(_ request: RequestHead, connection: BlockingConnection) -> Bool {
        guard (try? UpgradeRequest.classify(request)) == .websocket, let key = request.headers["sec-websocket-key"]
        else {
            connection.sendResponse(
                status: 400, headers: [("content-type", "text/plain"), ("connection", "close")],
                body: Array("a WebSocket opening handshake is expected here\n".utf8), isHead: false)
            return false
        }
        var headers = [
            ("upgrade", "websocket"), ("connection", "Upgrade"),
            ("sec-websocket-accept", WebSocketAccept.value(forKey: key)),
        ]
        if let wanted = request.headers.tokens("sec-websocket-protocol").first {
            headers.append(("sec-websocket-protocol", wanted))
        }
        connection.sendHead(status: 101, headers: headers)
        return true
    }

    /// Echoes frames until the close handshake or the connection ends. `buffered` holds bytes the client
    /// sent right behind its handshake.
    func run(buffered: [UInt8]) {
        var input = buffered
        while true {
            switch Self.frame(in: input) {
            case .needMore:
                guard let more = connection.receive() else { return }
                input += more
            case .invalid(let code):
                connection.send(Self.encode(opcode: 0x8, fin: true, payload: [UInt8(code >> 8), UInt8(code & 0xFF)]))
                return
            case .frame(let fin, let opcode, let payload, let consumed):
                input.removeFirst(consumed)
                switch opcode {
                case 0x0, 0x1, 0x2:
                    guard connection.send(Self.encode(opcode: opcode, fin: fin, payload: payload)) else { return }
                case 0x9:
                    guard connection.send(Self.encode(opcode: 0xA, fin: true, payload: payload)) else { return }
                case 0xA:
                    continue
                case 0x8:
                    // Return the close frame (code and reason), then end the TCP connection (RFC 6455 §7.1.1).
                    connection.send(Self.encode(opcode: 0x8, fin: true, payload: payload))
                    return
                default:
                    connection.send(Self.encode(opcode: 0x8, fin: true, payload: [0x03, 0xEA]))  // 1002
                    return
                }
            }
        }
    }

    enum Parsed {
        case needMore
        case invalid(closeCode: Int)
        case frame(fin: Bool, opcode: UInt8, payload: [UInt8], consumed: Int)
    }

    /// One client frame (RFC 6455 §5.2); client frames must be masked.
    static func frame(in bytes: [UInt8]) -> Parsed {
        guard bytes.count >= 2 else { return .needMore }
        let fin = bytes[0] & 0x80 != 0
        let opcode = bytes[0] & 0x0F
        guard bytes[0] & 0x70 == 0, bytes[1] & 0x80 != 0 else { return .invalid(closeCode: 1002) }
        var length = Int(bytes[1] & 0x7F)
        var offset = 2
        if length == 126 {
            guard bytes.count >= 4 else { return .needMore }
            length = Int(bytes[2]) << 8 | Int(bytes[3])
            offset = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return .needMore }
            var value: UInt64 = 0
            for byte in bytes[2..<10] { value = value << 8 | UInt64(byte) }
            guard value <= UInt64(maxFrameBytes) else { return .invalid(closeCode: 1009) }
            length = Int(value)
            offset = 10
        }
        guard length <= maxFrameBytes else { return .invalid(closeCode: 1009) }
        guard bytes.count >= offset + 4 + length else { return .needMore }
        let mask = Array(bytes[offset..<(offset + 4)])
        offset += 4
        var payload = Array(bytes[offset..<(offset + length)])
        for i in payload.indices { payload[i] ^= mask[i & 3] }
        return .frame(fin: fin, opcode: opcode, payload: payload, consumed: offset + length)
    }

    /// A server frame: unmasked (RFC 6455 §5.1).
    static func encode(opcode: UInt8, fin: Bool, payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            out.append(UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            out += [126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            out.append(127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((payload.count >> shift) & 0xFF)) }
        }
        return out + payload
    }
}
