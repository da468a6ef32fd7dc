import HTTP1
import TollgateCore
import XCTest

final class ResponseDecoderTests: XCTestCase {
    private func events(_ input: String, head: Bool = false, eof: Bool = false) throws -> [String] {
        var decoder = ResponseDecoder()
        decoder.requestWasHead = head
        decoder.append(Array(input.utf8))
        var out: [String] = []
        while let e = try decoder.next() {
            switch e {
            case .head(let h): out.append("\(h.status) \(h.reason)")
            case .body(let b): out.append("body \(String(decoding: b, as: UTF8.self))")
            case .end: out.append("end")
            }
        }
        if eof, let e = try decoder.finishAtEOF(), case .end = e { out.append("end") }
        return out
    }

    /// After a `101` the bytes behind the head belong to the new protocol: handed over whole, none decoded as
    /// HTTP, however the input was split.
    func testBytesAfterASwitchAreHandedOver() throws {
        let input = Array(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\u{81}\u{02}hiHTTP/1.1 200".utf8)
        for split in [input.count, 1, 7] {
            var decoder = ResponseDecoder()
            var status: Int?
            var index = 0
            while status == nil && index < input.count {
                decoder.append(input[index..<min(index + split, input.count)])
                index += split
                if case .head(let head)? = try decoder.next() { status = head.status }
            }
            XCTAssertEqual(status, 101)
            let rest = decoder.takeUnparsedBytes() + input[min(index, input.count)...]
            XCTAssertEqual(rest, Array("\u{81}\u{02}hiHTTP/1.1 200".utf8), "split \(split)")
            XCTAssertNil(try decoder.next(), "nothing more is decoded")
        }
    }

    func testContentLength() throws {
        XCTAssertEqual(try events("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"), ["200 OK", "body hi", "end"])
    }

    func testHeadAnd204And304HaveNoBody() throws {
        XCTAssertEqual(try events("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", head: true), ["200 OK", "end"])
        XCTAssertEqual(try events("HTTP/1.1 204 No Content\r\n\r\n"), ["204 No Content", "end"])
        XCTAssertEqual(
            try events("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"), ["304 Not Modified", "end"])
    }

    func testContentLengthIsCanonicalised() throws {
        var decoder = ResponseDecoder()
        decoder.append(Array("HTTP/1.1 200 OK\r\nContent-Length: 02, 2\r\n\r\nhi".utf8))
        guard case .head(let head)? = try decoder.next() else { return XCTFail("no head") }
        XCTAssertEqual(head.headers, HTTPHeaders([("Content-Length", "2")]))
    }

    func testChunked() throws {
        XCTAssertEqual(
            try events("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"),
            ["200 OK", "body hi", "end"])
    }

    func testCloseDelimited() throws {
        XCTAssertEqual(
            try events("HTTP/1.1 200 OK\r\n\r\nuntil close", eof: true), ["200 OK", "body until close", "end"])
    }

    func testStatusWithoutReason() throws {
        XCTAssertEqual(try events("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), ["200 ", "end"])
    }

    func testSmugglingShapesAreRejected() {
        XCTAssertThrowsError(try events("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"))
        XCTAssertThrowsError(try events("HTTP/1.1 2x0 OK\r\n\r\n"))
    }
}

final class MessageEncoderTests: XCTestCase {
    func testChunkEncoding() {
        XCTAssertEqual(
            String(decoding: MessageEncoder.chunk(Array(repeating: 65, count: 26)), as: UTF8.self),
            "1a\r\n" + String(repeating: "A", count: 26) + "\r\n")
    }

    func testRequestHead() {
        let head = RequestHead(method: "GET", target: "/x", headers: HTTPHeaders([("Host", "a")]))
        XCTAssertEqual(
            String(decoding: MessageEncoder.encode(head), as: UTF8.self), "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    }

    func testHopByHopFieldsAndThoseNamedInConnectionAreStripped() {
        var headers = HTTPHeaders([
            ("Connection", "keep-alive, X-Secret"), ("X-Secret", "1"), ("Keep-Alive", "5"), ("Upgrade", "h2c"),
            ("TE", "trailers"), ("X-Kept", "yes"),
        ])
        HopByHop.strip(&headers)
        XCTAssertEqual(headers.map(\.name), ["X-Kept"])
    }

    func testKeepAliveRules() {
        XCTAssertTrue(HopByHop.wantsKeepAlive(HTTPHeaders(), version: .http11))
        XCTAssertFalse(HopByHop.wantsKeepAlive(HTTPHeaders([("Connection", "close")]), version: .http11))
        XCTAssertFalse(HopByHop.wantsKeepAlive(HTTPHeaders(), version: .http10))
        XCTAssertTrue(HopByHop.wantsKeepAlive(HTTPHeaders([("Connection", "Keep-Alive")]), version: .http10))
    }
}
