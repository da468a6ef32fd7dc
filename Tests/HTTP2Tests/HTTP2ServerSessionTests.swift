import HTTP1
import HTTP2
import TollgateCore
import XCTest

final class HTTP2ServerSessionTests: XCTestCase {
    func testRequestBecomesAHeadWithAuthorityAsHostAndIsAnswered() throws {
        let server = try HTTP2ServerSession()
        let client = HTTP2TestClient()
        let id = client.request(path: "/a?b=1", headers: [("user-agent", "t"), ("cookie", "a=1"), ("cookie", "b=2")])
        let events = try exchange(client, server)
        guard case .request(let streamID, .success(let head), let endStream)? = events.first else {
            return XCTFail("no request: \(events)")
        }
        XCTAssertEqual(streamID, id)
        XCTAssertTrue(endStream)
        XCTAssertEqual(head.method, "GET")
        XCTAssertEqual(head.target, "/a?b=1")
        XCTAssertEqual(head.version.description, "HTTP/2")
        XCTAssertEqual(head.headers["host"], "example.test")
        XCTAssertEqual(head.headers["cookie"], "a=1; b=2")

        server.respond(
            streamID: id, status: 200, headers: HTTPHeaders([("Content-Type", "text/plain"), ("Connection", "close")]),
            hasBody: true)
        server.sendBody(streamID: id, Array("hello".utf8))
        server.endBody(streamID: id)
        let after = try exchange(client, server)
        XCTAssertEqual(client.responses[id]?.status, 200)
        XCTAssertEqual(String(decoding: client.responses[id]?.body ?? [], as: UTF8.self), "hello")
        XCTAssertEqual(client.responses[id]?.headers.map(\.0), ["content-type"], "lowercased, no connection field")
        XCTAssertEqual(client.responses[id]?.closed, true)
        XCTAssertTrue(after.contains { if case .closed(id, 0) = $0 { true } else { false } })
    }

    /// A response body is pulled as it arrives: with nothing buffered the stream waits (deferred), and
    /// data added later resumes it.
    func testResponseBodyDefersUntilDataArrives() throws {
        let server = try HTTP2ServerSession()
        let client = HTTP2TestClient()
        let id = client.request()
        _ = try exchange(client, server)
        server.respond(streamID: id, status: 200, headers: HTTPHeaders(), hasBody: true)
        _ = try exchange(client, server)
        XCTAssertEqual(client.responses[id]?.status, 200)
        XCTAssertEqual(client.responses[id]?.closed, false)
        server.sendBody(streamID: id, Array("part".utf8))
        _ = try exchange(client, server)
        XCTAssertEqual(client.responses[id]?.body.count, 4)
        XCTAssertEqual(client.responses[id]?.closed, false)
        server.endBody(streamID: id)
        _ = try exchange(client, server)
        XCTAssertEqual(client.responses[id]?.closed, true)
    }

    /// `endAfterResponse` (a tunnel whose upstream finished): once END_STREAM has left, a client still sending
    /// gets RST_STREAM NO_ERROR after the complete response; a stream without it stays open for the client.
    func testEndAfterResponseResetsAStreamTheClientIsStillSending() throws {
        var settings = HTTP2Settings()
        settings.streamWindow = 16 * 1024
        let server = try HTTP2ServerSession(settings: settings)
        let client = HTTP2TestClient()
        let ended = client.request(method: "POST", body: [UInt8](repeating: 1, count: 1 << 20))
        let open = client.request(method: "POST", body: [UInt8](repeating: 2, count: 1 << 20))
        _ = try exchange(client, server)
        for id in [ended, open] {
            server.respond(streamID: id, status: 200, headers: HTTPHeaders(), hasBody: true)
            server.sendBody(streamID: id, Array("done".utf8))
        }
        server.endAfterResponse(streamID: ended)
        for id in [ended, open] { server.endBody(streamID: id) }
        _ = try exchange(client, server)
        XCTAssertEqual(client.responses[ended]?.body, Array("done".utf8))
        XCTAssertEqual(client.responses[ended]?.closed, true)
        XCTAssertEqual(client.responses[ended]?.errorCode, 0, "NO_ERROR")
        XCTAssertEqual(client.responses[open]?.body, Array("done".utf8))
        XCTAssertEqual(client.responses[open]?.closed, false, "the client may still send")
    }

    /// Request DATA is acknowledged only when consumed: an unconsumed stream gets no more than its window,
    /// and consuming opens it again.
    func testRequestBodyIsHeldToTheStreamWindowUntilConsumed() throws {
        var settings = HTTP2Settings()
        settings.streamWindow = 64 * 1024
        let server = try HTTP2ServerSession(settings: settings)
        let client = HTTP2TestClient()
        let body = [UInt8](repeating: 7, count: 1024 * 1024)
        let id = client.request(method: "POST", headers: [("content-length", String(body.count))], body: body)
        var received = 0
        for event in try exchange(client, server) { if case .data(id, let bytes) = event { received += bytes.count } }
        XCTAssertEqual(received, 64 * 1024, "the client may not run ahead of the stream window")
        var ended = false
        for _ in 0..<100 where !ended {
            server.consume(streamID: id, received)
            received = 0
            for event in try exchange(client, server) {
                if case .data(id, let bytes) = event { received += bytes.count }
                if case .end(id) = event { ended = true }
            }
            XCTAssertLessThanOrEqual(received, 64 * 1024)
        }
        XCTAssertTrue(ended)
    }

    /// One stream whose client does not read (its window shut) does not hold back another.
    func testAStalledResponseStreamDoesNotBlockAnother() throws {
        let server = try HTTP2ServerSession()
        let client = HTTP2TestClient(streamWindow: 16 * 1024)
        let slow = client.request(path: "/slow")
        let fast = client.request(path: "/fast")
        _ = try exchange(client, server)
        for id in [slow, fast] { server.respond(streamID: id, status: 200, headers: HTTPHeaders(), hasBody: true) }
        server.sendBody(streamID: slow, [UInt8](repeating: 1, count: 200 * 1024))
        server.sendBody(streamID: fast, [UInt8](repeating: 2, count: 10 * 1024))
        server.endBody(streamID: fast)
        _ = try exchange(client, server)
        XCTAssertEqual(client.responses[fast]?.closed, true)
        XCTAssertEqual(client.responses[fast]?.body.count, 10 * 1024)
        XCTAssertLessThanOrEqual(client.responses[slow]?.body.count ?? 0, 16 * 1024)
        XCTAssertGreaterThan(server.bufferedResponseBytes(streamID: slow), 150 * 1024, "held for the caller to see")
    }

    /// CVE-2023-44487: a client opening and resetting streams faster than the allowance gets GOAWAY and the
    /// session ends; a client resetting within it keeps its connection.
    func testRapidResetEndsTheConnection() throws {
        var settings = HTTP2Settings()
        settings.resetBurst = 20
        settings.resetsPerSecond = 10
        let server = try HTTP2ServerSession(settings: settings)
        let client = HTTP2TestClient()
        _ = try exchange(client, server)
        var resets = 0
        while client.goAwayCode == nil && resets < 100 {
            // HEADERS and RST_STREAM in one write, as the attack sends them.
            let id = client.request()
            var bytes = client.output()
            client.reset(id)
            bytes += client.output()
            resets += 1
            _ = try bytes.withUnsafeBytes { try server.receive($0) }
            _ = try exchange(client, server)
            if resets == 15 { XCTAssertFalse(server.isFinished, "within the burst") }
        }
        XCTAssertLessThan(resets, 30, "the limiter tripped near the burst")
        XCTAssertNotNil(client.goAwayCode)
        XCTAssertTrue(server.isFinished, "the connection is to be closed")
    }

    func testHeaderBlockOverTheLimitIsAnswered431() throws {
        var settings = HTTP2Settings()
        settings.limits = HTTPLimits(maxHeaderBytes: 4096)
        let server = try HTTP2ServerSession(settings: settings)
        let client = HTTP2TestClient()
        client.request(headers: [("x-big", String(repeating: "a", count: 5000))])
        let events = try exchange(client, server)
        guard case .request(_, .failure(let error), _)? = events.first else { return XCTFail("\(events)") }
        XCTAssertEqual(error.status, 431)
    }

    func testMaxConcurrentStreamsIsAdvertisedAndEnforced() throws {
        var settings = HTTP2Settings()
        settings.maxConcurrentStreams = 3
        let server = try HTTP2ServerSession(settings: settings)
        let client = HTTP2TestClient()
        _ = try exchange(client, server)
        for _ in 0..<5 { client.request() }
        let events = try exchange(client, server)
        let requests = events.filter { if case .request = $0 { true } else { false } }
        XCTAssertEqual(requests.count, 3, "the client library itself holds back streams past the server's limit")
    }
}
