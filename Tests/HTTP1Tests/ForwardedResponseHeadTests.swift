import HTTP1
import TollgateCore
import XCTest

/// `ResponseFraming.encodeForwarded` writes the client's response head straight from the upstream's, on the
/// keep-alive path of every forwarded response; it must give the bytes the general path gives (`plan`, the
/// gateway's `server`, a missing `date`, `connection`, `MessageEncoder.encode`), which VirtualService
/// header operations still take.
final class ForwardedResponseHeadTests: XCTestCase {
    private static let date = "Thu, 03 Dec 2026 19:00:00 GMT"

    private func decoded(_ text: String, head: Bool = false) throws -> ResponseHead {
        var decoder = ResponseDecoder()
        decoder.requestWasHead = head
        decoder.append(Array(text.utf8))
        guard case .head(let response)? = try decoder.next() else { throw HTTPParseError(status: 502, "no head") }
        return response
    }

    private func general(_ response: ResponseHead, _ plan: ResponseFraming.Plan, connection: String?) -> [UInt8] {
        var headers = plan.headers
        headers.set("server", "Tollgate")
        if !headers.contains("date") { headers.add("date", Self.date) }
        if let connection { headers.set("connection", connection) }
        return MessageEncoder.encode(
            ResponseHead(
                status: response.status, reason: response.reason.isEmpty ? nil : response.reason, headers: headers))
    }

    func testTheDirectHeadIsTheGeneralPathsBytes() throws {
        let heads = [
            "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 18:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200\r\nSERVER: a\r\nX-A: 1\r\nserver: b\r\nContent-LENGTH: 5\r\n\r\n",
            "HTTP/1.1 201 Created\r\nConnection: close, X-Secret, Server, dATE\r\nX-Secret: s\r\nServer: up\r\nDate: d\r\nX-Kept: k\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nVary: a\r\nVary: b\r\n\r\n",
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200 OK\r\nConnection: close\r\nClose: 1\r\nKeep-Alive: 1\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nClose: 1\r\nKeep-Alive: 1\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n",
            "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nETag: \"x\"\r\n\r\n",
            "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\nDate: d\r\n\r\n",
            "HTTP/1.1 299 Some\tthing odd\r\nContent-Length: 1\r\nEmpty:\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nServer: x\r\n\r\n",
        ]
        // Values no decoder passes, but the encoder's last guard must drop the same way on both paths.
        let built = ResponseHead(
            status: 200, reason: "Odd\u{01}\r\nreason",
            headers: HTTPHeaders([("Bad Name", "x"), ("X-Split", "a\r\nb"), ("Content-Length", "1"), ("X-Ok", "é")]))
        var compared = 0
        for text in heads.map(Optional.some) + [nil] {
            for method in ["GET", "HEAD", "POST"] {
                let response = try text.map { try decoded($0, head: method == "HEAD") } ?? built
                for client in [HTTPVersion.http11, .http10] {
                    let plan = try? ResponseFraming.plan(response, requestMethod: method, clientVersion: client)
                    let framing = try? ResponseFraming.framing(response, requestMethod: method, clientVersion: client)
                    XCTAssertEqual(plan == nil, framing == nil, "\(text ?? "built") \(method) \(client)")
                    guard let plan, let framing else { continue }
                    XCTAssertEqual(framing.chunked, plan.chunked)
                    XCTAssertEqual(framing.delimitedByClose, plan.delimitedByClose)
                    for connection in [nil, "close", "keep-alive"] {
                        let direct = ResponseFraming.encodeForwarded(
                            response, framing: framing, server: "Tollgate", date: { Self.date },
                            connection: connection)
                        XCTAssertEqual(
                            String(decoding: direct, as: UTF8.self),
                            String(decoding: general(response, plan, connection: connection), as: UTF8.self),
                            "\(text ?? "built") \(method) \(client) \(connection ?? "-")")
                        compared += 1
                    }
                }
            }
        }
        XCTAssertEqual(compared, (heads.count + 1) * 3 * 2 * 3 - 2 * 3, "only gzip to HTTP/1.0 (not HEAD) throws")
    }

    func testATypicalUpstreamHead() throws {
        let response = try decoded(
            "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 18:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\nX-Hop: 1\r\n\r\n"
        )
        let framing = try ResponseFraming.framing(response, requestMethod: "GET", clientVersion: .http11)
        var dateAsked = false
        let direct = ResponseFraming.encodeForwarded(
            response, framing: framing, server: "Tollgate",
            date: {
                dateAsked = true
                return Self.date
            }, connection: nil, spareCapacity: 3)
        XCTAssertEqual(
            String(decoding: direct, as: UTF8.self),
            "HTTP/1.1 200 OK\r\nServer: Tollgate\r\nDate: Thu, 03 Dec 2026 18:00:00 GMT\r\nContent-Type: text/plain\r\nX-Hop: 1\r\ncontent-length: 3\r\n\r\n"
        )
        XCTAssertFalse(dateAsked, "the upstream's date is kept")
        XCTAssertGreaterThanOrEqual(direct.capacity, direct.count + 3, "room for the small body written next")
    }
}
