import Foundation
import TestSupport
import XCTest

/// A client that opens streams of large responses and then reads nothing (grants no flow-control window):
/// the gateway must not hold their buffered bodies, and the connection, for ever.
final class HTTP2StalledClientTests: XCTestCase {
    var harness: GatewayHarness!

    override func setUpWithError() throws {
        try requireH2Probe()
        harness = try GatewayHarness.running(
            mode: "MUTUAL", extraArguments: ["--stream-idle-timeout", "2", "--idle-timeout", "300"])
    }

    override func tearDown() { harness?.stop() }

    /// Each stream whose client took nothing for the stream idle timeout is reset (its buffered response let
    /// go), as an HTTP/1.1 exchange is ended, whether or not its upstream had already finished.
    func testStreamsThatTheClientDoesNotReadAreEndedAfterTheStreamIdleTimeout() throws {
        // 1 MB: the upstream is still sending (paused); 200 kB: it has finished, the body waits in the gateway.
        for size in ["1000000", "200000"] {
            let result = try h2Probe(harness, "never_read", extra: ["--wait", "6", "--size", size])
            XCTAssertTrue(
                result["done"] as? Int == 20 || result["closed"] as? Bool == true,
                "\(size): every stream reset or the connection closed: \(result)")
            XCTAssertLessThanOrEqual(result["received"] as? Int ?? .max, 65535, "\(size): \(result)")
        }
    }

    /// A client that opens its windows but never reads its socket cannot even receive the resets: once its
    /// streams have been idle for two stream idle timeouts, the connection is closed.
    func testAClientThatReadsNothingAtAllLosesTheConnection() throws {
        let result = try h2Probe(harness, "never_read", extra: ["--wait", "8", "--grant"])
        XCTAssertEqual(result["closed"] as? Bool, true, "\(result)")
        XCTAssertLessThan(result["received"] as? Int ?? .max, 20_000_000, "not every body was sent: \(result)")
    }
}
