import HTTP1
import TollgateCore
import XCTest

/// Decodes `input` all at once and byte by byte; both must agree (the parser must not depend on
/// how the network splits bytes).
private func decodeAll(_ input: String, limits: HTTPLimits = HTTPLimits()) throws -> [String] {
    let whole = try decode([Array(input.utf8)], limits: limits)
    let dripped = try decode(Array(input.utf8).map { [$0] }, limits: limits)
    XCTAssertEqual(whole, dripped, "byte-by-byte decoding differs")
    return whole
}

private func decode(_ pieces: [[UInt8]], limits: HTTPLimits) throws -> [String] {
    var decoder = RequestDecoder(limits: limits)
    var events: [String] = []
    var body: [UInt8] = []
    func drain() throws {
        while let event = try decoder.next() {
            switch event {
            case .head(let h):
                events.append(
                    "head \(h.method) \(h.target) \(h.version) \(h.headers.map { "\($0.name)=\($0.value)" }.joined(separator: ","))"
                )
            case .body(let b):
                body += b
            case .end:
                events.append("body \(String(decoding: body, as: UTF8.self))")
                events.append("end")
                body = []
                decoder.prepareForNextMessage()
            }
        }
    }
    for piece in pieces {
        decoder.append(piece)
        try drain()
    }
    return events
}

private func rejection(_ input: String, limits: HTTPLimits = HTTPLimits()) -> HTTPParseError? {
    do {
        _ = try decode([Array(input.utf8)], limits: limits)
        return nil
    } catch let error as HTTPParseError {
        return error
    } catch {
        return nil
    }
}

final class RequestDecoderTests: XCTestCase {
    func testSimpleGet() throws {
        let events = try decodeAll("GET /uuid?x=1 HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n\r\n")
        XCTAssertEqual(events, ["head GET /uuid?x=1 HTTP/1.1 Host=a.test,Accept=*/*", "body ", "end"])
    }

    func testHeaderValuesAreTrimmedButKeepInnerSpaces() throws {
        let events = try decodeAll("GET / HTTP/1.1\r\nHost: a\r\nX-A: \t one two \t\r\n\r\n")
        XCTAssertEqual(events.first, "head GET / HTTP/1.1 Host=a,X-A=one two")
    }

    func testContentLengthBody() throws {
        let events = try decodeAll("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        XCTAssertEqual(events.dropFirst(), ["body hello", "end"])
    }

    func testIdenticalDuplicateContentLengthIsAccepted() throws {
        let events = try decodeAll("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc")
        XCTAssertEqual(events.dropFirst(), ["body abc", "end"])
    }

    /// A chunk-size line over the limit is refused whether it arrives whole or in pieces (the fuzzer found
    /// the whole line accepted while the same bytes dripped in were refused).
    func testOverlongChunkSizeLineIsRefusedHoweverItArrives() {
        let input = Array(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=\(String(repeating: "x", count: 5000))\r\nhello\r\n0\r\n\r\n"
                .utf8)
        for pieces in [[input], input.map { [$0] }] {
            XCTAssertThrowsError(try decode(pieces, limits: HTTPLimits())) { error in
                XCTAssertEqual((error as? HTTPParseError)?.reason, "chunk size line too long")
            }
        }
    }

    /// A line exactly at the limit is accepted however it arrives, also with its CR and LF in separate reads.
    func testChunkSizeLineAtTheLimitIsAcceptedHoweverItArrives() throws {
        let head = Array("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        let line = Array("1;".utf8) + Array(repeating: UInt8(ascii: "e"), count: 4094)
        let message = head + line + Array("\r\nx\r\n0\r\n\r\n".utf8)
        let cut = head.count + line.count + 1
        let whole = try decode([message], limits: HTTPLimits())
        XCTAssertEqual(try decode([Array(message[..<cut]), Array(message[cut...])], limits: HTTPLimits()), whole)
        XCTAssertTrue(whole.contains("body x"), "\(whole)")
    }

    func testChunkedBodyWithExtensionsAndTrailers() throws {
        let input =
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
        XCTAssertEqual(try decodeAll(input).dropFirst(), ["body hello world", "end"])
    }

    func testPipelinedRequestsWaitForTheCurrentOne() throws {
        var decoder = RequestDecoder()
        decoder.append(Array("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        guard case .head(let first)? = try decoder.next() else { return XCTFail("no first head") }
        XCTAssertEqual(first.target, "/a")
        guard case .end? = try decoder.next() else { return XCTFail("no end") }
        XCTAssertNil(try decoder.next(), "the next request must wait until the exchange is finished")
        decoder.prepareForNextMessage()
        guard case .head(let second)? = try decoder.next() else { return XCTFail("no second head") }
        XCTAssertEqual(second.target, "/b")
    }

    func testLeadingEmptyLinesAreIgnored() throws {
        XCTAssertEqual(try decodeAll("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").first, "head GET / HTTP/1.1 Host=a")
    }

    func testHTTP10WithoutHost() throws {
        XCTAssertEqual(try decodeAll("GET / HTTP/1.0\r\n\r\n").first, "head GET / HTTP/1.0 ")
    }

    // MARK: Rejections (RFC 9112: anything that could desynchronise two parsers)

    func testTransferEncodingWithContentLengthIsRejected() {
        let e = rejection(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        XCTAssertEqual(e?.status, 400)
        XCTAssertEqual(e?.reason, "both Transfer-Encoding and Content-Length")
    }

    func testConflictingContentLengthsAreRejected() {
        XCTAssertEqual(
            rejection("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")?.reason,
            "conflicting Content-Length values")
        XCTAssertEqual(
            rejection("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\nab")?.reason,
            "conflicting Content-Length values")
    }

    func testMalformedContentLengthIsRejected() {
        for value in ["-1", "+5", "abc", "1 2", "", "0x10", "99999999999999999999"] {
            XCTAssertEqual(
                rejection("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(value)\r\n\r\n")?.status, 400, value)
        }
    }

    func testBadChunkSizesAreRejected() {
        for size in ["zz", "-1", "", " 5", "11111111111111111", "5 x"] {
            let input = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\(size)\r\nhello\r\n0\r\n\r\n"
            XCTAssertEqual(rejection(input)?.status, 400, "chunk size '\(size)'")
        }
    }

    func testChunkDataMustEndWithCRLF() {
        let input = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"
        XCTAssertEqual(rejection(input)?.reason, "chunk data not followed by CRLF")
    }

    func testUnknownOrRepeatedTransferCodings() {
        XCTAssertEqual(rejection("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n")?.status, 501)
        XCTAssertEqual(rejection("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")?.status, 501)
        XCTAssertEqual(
            rejection("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n")?.status, 400)
        XCTAssertEqual(rejection("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n")?.status, 400)
        XCTAssertEqual(rejection("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")?.status, 400)
    }

    func testObsoleteLineFoldingIsRejected() {
        XCTAssertEqual(rejection("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n")?.reason, "obsolete line folding")
    }

    func testWhitespaceBeforeColonIsRejected() {
        XCTAssertEqual(rejection("GET / HTTP/1.1\r\nHost : a\r\n\r\n")?.reason, "invalid header name")
    }

    func testControlCharactersAreRejected() {
        XCTAssertEqual(
            rejection("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{01}b\r\n\r\n")?.reason, "control character in message head")
        XCTAssertEqual(rejection("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{7F}\r\n\r\n")?.status, 400)
        XCTAssertEqual(
            rejection("GET /a\u{01} HTTP/1.1\r\nHost: a\r\n\r\n")?.reason, "control character in message head")
        XCTAssertEqual(
            rejection("GET /a\u{7F} HTTP/1.1\r\n")?.reason, "control character in message head",
            "refused before the head is complete")
    }

    func testBareLineFeedsAndCarriageReturnsAreRejected() {
        XCTAssertEqual(rejection("GET / HTTP/1.1\nHost: a\r\n\r\n")?.reason, "bare LF in message head")
        XCTAssertEqual(rejection("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n")?.reason, "bare CR in message head")
    }

    func testHostIsRequiredOnceInHTTP11() {
        XCTAssertEqual(rejection("GET / HTTP/1.1\r\n\r\n")?.reason, "missing Host header")
        XCTAssertEqual(rejection("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")?.reason, "more than one Host header")
        XCTAssertEqual(rejection("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n")?.reason, "invalid Host header")
        XCTAssertEqual(rejection("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n")?.reason, "invalid Host header")
    }

    func testMalformedRequestLines() {
        XCTAssertEqual(rejection("GET  / HTTP/1.1\r\nHost: a\r\n\r\n")?.status, 400)
        XCTAssertEqual(rejection("GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n")?.status, 400)
        XCTAssertEqual(rejection("G(T / HTTP/1.1\r\nHost: a\r\n\r\n")?.reason, "invalid method")
        XCTAssertEqual(rejection("GET / HTTP/2.0\r\nHost: a\r\n\r\n")?.status, 505)
        XCTAssertEqual(rejection("GET / HTTX/1.1\r\nHost: a\r\n\r\n")?.status, 400)
        XCTAssertEqual(rejection("GET relative HTTP/1.1\r\nHost: a\r\n\r\n")?.reason, "unsupported request target form")
    }

    // MARK: Hostile input (issue #17)

    func testARequestLineThatCannotBeHTTPIsRefusedBeforeItsNewline() throws {
        for garbage in [
            "I'm not HTTP", "GET  /", "GET index.html", "GET /x HTTQ", "GET /x HTTP/x", "GET /x HTTP/1.1 ", "(",
            "GET\t/",
            "GET hxxp://a/", "GET /a b",
        ] {
            XCTAssertEqual(rejection(garbage)?.status, 400, garbage.debugDescription)
            // Fed a byte at a time, the verdict comes at the first byte that cannot belong to a request line.
            XCTAssertThrowsError(
                try decode(Array(garbage.utf8).map { [$0] }, limits: HTTPLimits()), garbage.debugDescription)
        }
        for prefix in [
            "G", "GET", "GET ", "GET /", "GET /x HTTP/1.", "GET http", "GET HTTPS:/", "OPTIONS * HTTP/1.1\r",
            "\r\n\r\nGET /",
        ] {
            XCTAssertEqual(try decodeAll(prefix), [], "a valid prefix waits for more: \(prefix.debugDescription)")
        }
        let pipelined = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"
        XCTAssertEqual(try decodeAll(pipelined).filter { $0.hasPrefix("head") }.count, 2)
    }

    func testOnlyHTTP11AndHTTP10Requests() {
        for version in ["1.2", "1.9", "2.0", "3.0", "0.9"] {
            let e = rejection("GET / HTTP/\(version)\r\nHost: a\r\n\r\n")
            XCTAssertEqual(e?.status, 505, version)
        }
        XCTAssertEqual(rejection("GET / HTTP/1.2\r\n\r\n")?.status, 505, "no Host needed to be refused")
        XCTAssertEqual(rejection("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")?.status, 505)
    }

    func testAbsoluteFormAuthorityIsCheckedLikeHost() throws {
        for target in [
            "http://evil\"<x>@a.test,b/abs", "http:///abs", "https://user@a.test/", "http://a%2f/", "http://a\\b/",
        ] {
            XCTAssertEqual(
                rejection("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n")?.reason, "invalid authority in request target",
                target)
        }
        XCTAssertEqual(
            try decodeAll("GET HTTPS://a.test:8443?q HTTP/1.1\r\nHost: b\r\n\r\n").first,
            "head GET HTTPS://a.test:8443?q HTTP/1.1 Host=b")
        XCTAssertEqual(rejection("GET * HTTP/1.1\r\nHost: a\r\n\r\n")?.status, 400, "`*` is for OPTIONS only")
    }

    func testContentLengthIsCanonicalised() throws {
        for declared in ["5, 5", "05", "5,5", "5 ,5", "0005"] {
            let events = try decodeAll("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(declared)\r\nX: y\r\n\r\nhello")
            XCTAssertEqual(events, ["head POST / HTTP/1.1 Host=a,Content-Length=5,X=y", "body hello", "end"], declared)
        }
        XCTAssertEqual(
            try decodeAll("POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 3\r\nContent-Length: 3\r\n\r\nabc").first,
            "head POST / HTTP/1.1 Host=a,content-length=3")
    }

    func testLimits() {
        let limits = HTTPLimits(maxHeaderBytes: 200, maxHeaderCount: 3)
        let long = "GET / HTTP/1.1\r\nHost: a\r\nX: \(String(repeating: "a", count: 300))\r\n\r\n"
        XCTAssertEqual(rejection(long, limits: limits)?.status, 431)
        let incomplete = "GET / HTTP/1.1\r\nHost: a\r\nX: \(String(repeating: "a", count: 300))"
        XCTAssertEqual(
            rejection(incomplete, limits: limits)?.status, 431, "an endless head must be cut off before it ends")
        let many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        XCTAssertEqual(rejection(many, limits: limits)?.status, 431)
    }

    func testEOFInsideABodyIsAnError() throws {
        var decoder = RequestDecoder()
        decoder.append(Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc".utf8))
        _ = try decoder.next()
        _ = try decoder.next()
        XCTAssertThrowsError(try decoder.finishAtEOF())
    }
}
