import Dispatch
import Foundation
import HTTP1
import TollgateCore
import TollgateTLS

#if canImport(Glibc)
    import Glibc
#endif

/// A small httpbin-like upstream so the demo and the tests need nothing else. Thread per connection
/// with blocking sockets: it is a test fixture, not part of the gateway's data path.
final class DemoUpstream: @unchecked Sendable {
    let port: Int
    let name: String
    private let lock = NSLock()
    /// gzip of "hello through a gzip transfer coding\n" (mtime 0), sent with `Transfer-Encoding: gzip, chunked`.
    static let gzippedGreeting: [UInt8] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0x28, 0xc9,
        0x28,
        0xca, 0x2f, 0x4d, 0xcf, 0x50, 0x48, 0x54, 0x48, 0xaf, 0xca, 0x2c, 0x50, 0x28, 0x29, 0x4a, 0xcc, 0x2b, 0x4e,
        0x4b,
        0x2d, 0x52, 0x48, 0xce, 0x4f, 0xc9, 0xcc, 0x4b, 0xe7, 0x02, 0x00, 0x3d, 0x0c, 0xf2, 0x2b, 0x25, 0x00, 0x00,
        0x00,
    ]
    private var failOnceSeen: Set<String> = []
    private var acceptedConnections = 0
    private var requestsInProgress = 0
    /// Requests received since start, whatever their path: what tests read to show a request never got here.
    private var requestsReceived = 0

    init(port: Int, name: String) {
        self.port = port
        self.name = name
    }

    func run(bind address: String) throws -> Never {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, address, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0, listen(fd, 512) == 0 else {
            throw DemoError("cannot listen on \(address):\(port): \(String(cString: strerror(errno)))")
        }
        FileHandle.standardError.write(Data("demo upstream '\(name)' listening on \(address):\(port)\n".utf8))
        while true {
            var peer = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let client = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &length) }
            }
            if client < 0 { continue }
            lock.withLock { acceptedConnections += 1 }
            var peerText = [CChar](repeating: 0, count: 64)
            inet_ntop(AF_INET, &peer.sin_addr, &peerText, 64)
            let origin = String(decoding: peerText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            Thread.detachNewThread { [self] in
                serve(client, origin: origin)
                close(client)
            }
        }
    }

    private func serve(_ fd: Int32, origin: String) {
        let connection = BlockingConnection(fd: fd)
        var decoder = RequestDecoder()
        while true {
            var head: RequestHead?
            let digest = SHA256Digest()
            var bodyLength = 0
            var body: [UInt8] = []
            var finished = false
            while !finished {
                do {
                    if let event = try decoder.next() {
                        switch event {
                        case .head(let h): head = h
                        case .body(let b):
                            digest.update(b)
                            bodyLength += b.count
                            if body.count < 1 << 20 { body += b }
                        case .end: finished = true
                        }
                        continue
                    }
                } catch {
                    connection.send(
                        Array("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".utf8))
                    return
                }
                guard let bytes = connection.receive() else { return }
                decoder.append(bytes)
            }
            guard let request = head else { return }
            lock.withLock {
                requestsInProgress += 1
                requestsReceived += 1
            }
            let keepAlive = respond(
                request, body: body, bodyLength: bodyLength, digest: digest.finalizeHex(), origin: origin,
                connection: connection)
            lock.withLock { requestsInProgress -= 1 }
            if !keepAlive || !HopByHop.wantsKeepAlive(request.headers, version: request.version) { return }
            decoder.prepareForNextMessage()
        }
    }

    /// Writes the response; returns whether the connection may carry another request.
    private func respond(
        _ request: RequestHead, body: [UInt8], bodyLength: Int, digest: String, origin: String,
        connection: BlockingConnection
    ) -> Bool {
        let path = request.path
        let query = DemoQuery(request.query)
        func json(_ status: Int, _ object: [String: JSONValue]) -> Bool {
            let text = JSONValue.object(object).encoded(pretty: true) + "\n"
            connection.sendResponse(
                status: status, headers: [("content-type", "application/json")], body: Array(text.utf8),
                isHead: request.method == "HEAD")
            return true
        }
        let headerObject = JSONValue.object(
            Dictionary(
                request.headers.map { ($0.name, JSONValue.string($0.value)) },
                uniquingKeysWith: { .string("\($0.stringValue),\($1.stringValue)") }))
        switch true {
        case path == "/uuid":
            return json(200, ["uuid": .string(UUID().uuidString.lowercased())])
        case path == "/headers":
            return json(200, ["headers": headerObject])
        case path == "/ip":
            return json(200, ["origin": .string(origin)])
        case path == "/" || path == "/get" || path.hasPrefix("/anything"):
            return json(
                200,
                [
                    "method": .string(request.method), "url": .string(request.target), "path": .string(path),
                    "args": .object(query.pairs.mapValues { JSONValue.string($0) }), "headers": headerObject,
                    "origin": .string(origin), "bodyLength": .number(bodyLength), "bodySHA256": .string(digest),
                    "data": .string(bodyLength <= 4096 ? String(decoding: body, as: UTF8.self) : ""),
                    "upstream": .string(name),
                ])
        case path == "/stats":
            // `inProgress` counts other requests being answered right now, `requests` those received before
            // this one.
            let (connections, inProgress, requests) = lock.withLock {
                (acceptedConnections, requestsInProgress - 1, requestsReceived - 1)
            }
            return json(
                200,
                [
                    "connections": .number(connections), "inProgress": .number(inProgress),
                    "requests": .number(requests),
                ])
        case path == "/sha256":
            return json(200, ["bytes": .number(bodyLength), "sha256": .string(digest)])
        case path.hasPrefix("/status/"):
            let code = Int(path.dropFirst("/status/".count)) ?? 400
            // For gateway tests: framing headers a bodiless status must not pass on (RFC 9110 §8.6).
            var headers: [(String, String)] = []
            if let length = query.pairs["content-length"] { headers.append(("content-length", length)) }
            if let coding = query.pairs["transfer-encoding"] { headers.append(("transfer-encoding", coding)) }
            if headers.isEmpty {
                connection.sendResponse(status: code, headers: [], body: [], isHead: request.method == "HEAD")
            } else {
                connection.sendHead(status: code, headers: headers)
            }
            return true
        case path == "/gzip-chunked":
            // For gateway tests: a transfer coding besides chunked, which the gateway must keep.
            connection.sendHead(
                status: 200, headers: [("content-type", "text/plain"), ("transfer-encoding", "gzip, chunked")])
            if request.method != "HEAD" {
                connection.send(MessageEncoder.chunk(Self.gzippedGreeting) + MessageEncoder.lastChunk)
            }
            return true
        case path.hasPrefix("/delay/"):
            let seconds = min(Double(path.dropFirst("/delay/".count)) ?? 1, 10)
            usleep(UInt32(seconds * 1_000_000))
            return json(200, ["delayed": .number(Int(seconds * 1000)), "upstream": .string(name)])
        case path.hasPrefix("/bytes/"):
            let count = min(Int(path.dropFirst("/bytes/".count)) ?? 0, 100 << 20)
            let seed = UInt64(query.pairs["seed"] ?? "1") ?? 1
            connection.sendHead(
                status: 200, headers: [("content-type", "application/octet-stream"), ("content-length", String(count))])
            if request.method != "HEAD" { connection.streamPseudoRandom(count: count, seed: seed, chunked: false) }
            return true
        case path.hasPrefix("/stream-bytes/"):
            let count = min(Int(path.dropFirst("/stream-bytes/".count)) ?? 0, 100 << 20)
            let seed = UInt64(query.pairs["seed"] ?? "1") ?? 1
            connection.sendHead(
                status: 200, headers: [("content-type", "application/octet-stream"), ("transfer-encoding", "chunked")])
            connection.streamPseudoRandom(count: count, seed: seed, chunked: true)
            return true
        case path.hasPrefix("/close-delimited/"):
            let count = min(Int(path.dropFirst("/close-delimited/".count)) ?? 0, 100 << 20)
            connection.sendHead(
                status: 200, headers: [("content-type", "application/octet-stream"), ("connection", "close")])
            connection.streamPseudoRandom(count: count, seed: 1, chunked: false)
            return false
        case path == "/malformed":
            // For gateway tests: a response no HTTP/1.1 parser may accept (Content-Length with Transfer-Encoding).
            connection.send(
                Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".utf8))
            return false
        case path == "/fail-once":
            let key = query.pairs["key"] ?? ""
            let first = lock.withLock { failOnceSeen.insert(key).inserted }
            return first ? json(503, ["failed": .string(key)]) : json(200, ["recovered": .string(key)])
        default:
            connection.sendResponse(
                status: 404, headers: [("content-type", "text/plain")], body: Array("not found\n".utf8), isHead: false)
            return true
        }
    }
}

struct DemoError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct DemoQuery {
    var pairs: [String: String] = [:]
    init(_ query: String?) {
        for item in (query ?? "").split(separator: "&") {
            let kv = item.split(separator: "=", maxSplits: 1)
            pairs[String(kv[0]).removingPercentEncoding ?? String(kv[0])] =
                kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
        }
    }
}

/// Blocking socket helpers for the demo upstream.
struct BlockingConnection {
    let fd: Int32

    func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(buffer[0..<n]) : nil
    }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    func sendHead(status: Int, headers: [(String, String)]) {
        send(MessageEncoder.encode(ResponseHead(status: status, headers: HTTPHeaders(headers))))
    }

    func sendResponse(status: Int, headers: [(String, String)], body: [UInt8], isHead: Bool) {
        var all = headers
        if status != 204 && status != 304 { all.append(("content-length", String(body.count))) }
        let head = ResponseHead(status: status, headers: HTTPHeaders(all))
        send(MessageEncoder.encode(head) + (isHead ? [] : body))
    }

    /// Deterministic bytes for a seed (xorshift64*), so a test can compute the expected digest.
    func streamPseudoRandom(count: Int, seed: UInt64, chunked: Bool) {
        var state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed
        var remaining = count
        var block = [UInt8](repeating: 0, count: 32768)
        while remaining > 0 {
            let n = min(remaining, block.count)
            for i in 0..<n {
                state ^= state >> 12
                state ^= state << 25
                state ^= state >> 27
                block[i] = UInt8(truncatingIfNeeded: (state &* 2_685_821_657_736_338_717) >> 56)
            }
            let piece = Array(block[0..<n])
            if !send(chunked ? MessageEncoder.chunk(piece) : piece) { return }
            remaining -= n
        }
        if chunked { send(MessageEncoder.lastChunk) }
    }
}

/// Just enough JSON for the demo's replies.
indirect enum JSONValue {
    case string(String)
    case number(Int)
    case object([String: JSONValue])

    var stringValue: String {
        if case .string(let s) = self { return s }
        return ""
    }

    func encoded(pretty: Bool, indent: String = "") -> String {
        switch self {
        case .string(let s): return "\"\(JSONValue.escape(s))\""
        case .number(let n): return String(n)
        case .object(let o):
            if o.isEmpty { return "{}" }
            let inner = indent + "  "
            let items = o.keys.sorted().map {
                "\(inner)\"\(JSONValue.escape($0))\": \(o[$0]!.encoded(pretty: pretty, indent: inner))"
            }
            return "{\n" + items.joined(separator: ",\n") + "\n\(indent)}"
        }
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
