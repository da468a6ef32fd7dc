import Foundation
import TestSupport
import XCTest

/// SIGTERM: no new connections, requests in flight finish, then the process exits 0.
final class ShutdownTests: XCTestCase {
    func testRequestsInFlightFinishOnSIGTERM() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL")
        defer { harness.stop() }
        let slow = DispatchGroup()
        nonisolated(unsafe) var slowResult: CurlResult?
        slow.enter()
        DispatchQueue.global().async {
            slowResult = try? harness.curl("/delay/1")
            slow.leave()
        }
        try waitUntil(timeout: 10, "the slow request to reach the upstream") { ((try? harness.upstreamStats().inProgress) ?? 0) >= 1 }
        harness.gateway!.signal(SIGTERM)
        slow.wait()
        XCTAssertEqual(slowResult?.status, 200, "the request in flight must complete: \(slowResult?.stderr ?? "")")
        try waitUntil(timeout: 15, "the gateway to exit") { !harness.gateway!.process.isRunning }
        XCTAssertEqual(harness.gateway!.process.terminationStatus, 0)
        XCTAssertTrue(harness.gateway!.log.contains("connections.dropped=0"), harness.gateway!.log)
        XCTAssertFalse(Network.isListening(harness.port()))
    }
}
