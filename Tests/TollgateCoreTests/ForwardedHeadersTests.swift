import TollgateCore
import XCTest

/// What the gateway tells the upstream about the client, and which client-sent fields it refuses (issue #17).
final class ForwardedHeadersTests: XCTestCase {
    func testOnlyASaneClientRequestIDIsKept() {
        func id(_ values: [String]) -> String? { ForwardedHeaders.clientRequestID(HTTPHeaders(values.map { ("X-Request-Id", $0) })) }
        XCTAssertEqual(id(["4c9d3b8e-2f6a-4e8b-9d1c-0a7b6c5d4e3f"]), "4c9d3b8e-2f6a-4e8b-9d1c-0a7b6c5d4e3f")
        XCTAssertEqual(id(["client-42.b:7_x"]), "client-42.b:7_x")
        XCTAssertEqual(id([String(repeating: "a", count: 128)]), String(repeating: "a", count: 128))
        for bad in ["a, b c", "a,b", "a b", "", String(repeating: "a", count: 129), "\"q\"", "a;b", "a/b", "é"] {
            XCTAssertNil(id([bad]), bad)
        }
        XCTAssertNil(id(["one", "two"]), "two ids: neither is the request's")
        XCTAssertNil(id([]))
    }

    func testTheExchangeIDReplacesWhateverTheClientSent() {
        var headers = HTTPHeaders([("X-Request-Id", "a, b c"), ("x-request-id", "second")])
        ForwardedHeaders.apply(to: &headers, ForwardedHeaders.Context(peerAddress: "192.0.2.7", scheme: "https", clientCertElement: nil,
                                                                     requestID: "generated"))
        XCTAssertEqual(headers.values("x-request-id"), ["generated"])
    }

    func testUnderscoreLookalikesOfProtectedFields() {
        for name in ["Transfer_Encoding", "content_length", "X_Forwarded_Client_Cert", "x_forwarded_for", "X-Forwarded_Proto", "x_request_id",
                     "HOST", "host", "Connection", "keep_alive", "te", "x_envoy_original_path", "x_tollgate_principal", "Forwarded"]
            where name.contains("_") {
            XCTAssertTrue(UnderscoreHeaders.isLookalike(name), name)
        }
        for name in ["Host", "Content-Length", "X_Custom", "host_", "_host", "x_forwarded", "user_agent", "x-forwarded-for"] {
            XCTAssertFalse(UnderscoreHeaders.isLookalike(name), name)
        }
        var headers = HTTPHeaders([("Host", "a"), ("Content_Length", "5"), ("X_Team", "blue"), ("transfer_encoding", "chunked")])
        XCTAssertEqual(UnderscoreHeaders.remove(from: &headers), ["Content_Length", "transfer_encoding"])
        XCTAssertEqual(headers, HTTPHeaders([("Host", "a"), ("X_Team", "blue")]))
    }
}
