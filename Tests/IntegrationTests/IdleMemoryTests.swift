import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// What a connection keeps while it idles between requests: not the buffers of the last response.
final class IdleMemoryTests: XCTestCase {
    func testAConnectionIdleAfterALargeResponseKeepsNoLargeBuffer() throws {
        // httpbin answers at most 100 KiB of random bytes: more than one 64 KiB socket read.
        let perConnection = try Self.residentKiBPerIdleConnection(
            after: Array("GET /bytes/102400 HTTP/1.1\r\nHost: \(Manifests.host)\r\n\r\n".utf8))
        // A plain connection costs a few KiB; one that kept the response's 64 KiB queue costs far more.
        XCTAssertLessThan(perConnection, 24, "KiB of resident memory per idle connection")
    }

    func testAConnectionIdleAfterALargeRequestBodyKeepsNoLargeBuffer() throws {
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 100 * 1024)
        let head = "POST /status/200 HTTP/1.1\r\nHost: \(Manifests.host)\r\nContent-Length: \(body.count)\r\n\r\n"
        let perConnection = try Self.residentKiBPerIdleConnection(after: Array(head.utf8) + body)
        // One that kept the decoder's buffer of the body's 64 KiB reads costs far more than a few KiB.
        XCTAssertLessThan(perConnection, 24, "KiB of resident memory per idle connection")
    }

    /// Resident memory a plain HTTP gateway gains per connection that sent `request`, read the whole
    /// response and stays open.
    static func residentKiBPerIdleConnection(after request: [UInt8]) throws -> Double {
        let harness = try GatewayHarness()
        defer { harness.stop() }
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "SIMPLE") + Manifests.plainHTTPServer())
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway(declaredPorts: [443, 80])
        let pid = try XCTUnwrap(harness.gateway).process.processIdentifier
        let port = harness.port(80)

        // Warm up (pooled upstream connections, per-loop buffers, malloc arenas), then measure.
        var warm: [Int32] = []
        for _ in 0..<4 { warm.append(try Network.connect(port)) }
        for fd in warm { try fetch(request, over: fd) }
        let before = try residentKiB(pid)
        let count = 40
        var held: [Int32] = []
        defer { for fd in warm + held { close(fd) } }
        for _ in 0..<count {
            let fd = try Network.connect(port)
            held.append(fd)
            try fetch(request, over: fd)
        }
        return Double(try residentKiB(pid) - before) / Double(count)
    }

    /// Sends `request` and reads the whole response (Content-Length framed).
    static func fetch(_ request: [UInt8], over fd: Int32) throws {
        guard write(fd, request, request.count) == request.count else { throw HarnessError("cannot send") }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var expected: Int?
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        while expected.map({ received.count < $0 }) ?? true {
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { throw HarnessError("the response ended early: \(received.count) bytes") }
            received += buffer[0..<n]
            if expected == nil, let end = received.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: received[..<end.lowerBound], as: UTF8.self).lowercased()
                guard head.hasPrefix("http/1.1 200"),
                    let field = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                    let length = Int(field.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
                else { throw HarnessError("unexpected response: \(head)") }
                expected = end.upperBound + length
            }
        }
    }

    static func residentKiB(_ pid: Int32) throws -> Int {
        let status = String(
            decoding: FileHandle(forReadingAtPath: "/proc/\(pid)/status")?.readDataToEndOfFile() ?? Data(),
            as: UTF8.self)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { throw HarnessError("no VmRSS for \(pid)") }
        return kib
    }
}
