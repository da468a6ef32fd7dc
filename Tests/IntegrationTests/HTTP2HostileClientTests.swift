import Foundation
import TestSupport
import XCTest

/// RFC 9113 §8 input rules and HTTP/2 abuse (rapid reset, CONTINUATION flood, stream limits), sent by a raw
/// client (Tests/Fixtures/h2/h2_probe.py on PyPI's `h2`, which sends what curl won't).
final class HTTP2HostileClientTests: XCTestCase {
    var harness: GatewayHarness!

    override func setUpWithError() throws {
        try requireH2Probe()
        harness = try GatewayHarness.running(mode: "MUTUAL")
    }

    override func tearDown() { harness?.stop() }

    private func probe(_ scenario: String, timeout: TimeInterval = 60) throws -> [String: Any] {
        try h2Probe(harness, scenario, timeout: timeout)
    }

    /// Each malformed request ends its stream only — reset by nghttp2 (PROTOCOL_ERROR, 1) or answered 400
    /// by the gateway — and the connection goes on serving the next request.
    func testMalformedRequestsAreStreamErrors() throws {
        for scenario in [
            "connection_header", "transfer_encoding", "te_gzip", "upgrade", "keep_alive", "uppercase", "missing_path",
            "pseudo_after_regular", "unknown_pseudo", "host_differs", "control_character", "absolute_path",
            "asterisk_get", "userinfo_authority",
        ] {
            let result = try probe(scenario)
            let status = result["status"] as? Int
            let reset = result["reset"] as? Int
            XCTAssertTrue(status == 400 || reset == 1, "\(scenario): \(result)")
            XCTAssertNotEqual(status, 200, "\(scenario) reached the upstream: \(result)")
            XCTAssertEqual(result["next_status"] as? Int, 200, "\(scenario): the connection goes on: \(result)")
        }
        XCTAssertFalse(harness.gateway!.log.contains("elsewhere.test\" \"127.0.0.1"), "no Host smuggled upstream")
    }

    func testHeaderListOverTheLimitIsAnswered431() throws {
        let result = try probe("huge_header")
        XCTAssertEqual(result["status"] as? Int, 431, "\(result)")
        XCTAssertEqual(result["next_status"] as? Int, 200, "\(result)")
    }

    func testContentLengthThatDisagreesWithDataIsAStreamError() throws {
        let result = try probe("content_length_mismatch")
        XCTAssertEqual(result["reset"] as? Int, 1, "PROTOCOL_ERROR: \(result)")
        XCTAssertNil(result["goaway"] as? Int, "a stream error, not a connection error: \(result)")
    }

    /// SETTINGS_MAX_CONCURRENT_STREAMS is 100: 100 streams at once are all served (the upstream pool opens a
    /// connection each); a client that opens a 101st anyway loses the connection (nghttp2 answers it with
    /// GOAWAY PROTOCOL_ERROR, RFC 9113 §5.1.2).
    func testConcurrentStreamsAreCappedAt100() throws {
        let hundred = try probe("streams_100")
        XCTAssertEqual(hundred["advertised"] as? Int, 100, "\(hundred)")
        XCTAssertEqual(hundred["ok"] as? Int, 100, "\(hundred)")
        XCTAssertNil(hundred["goaway"] as? Int, "\(hundred)")
        let over = try probe("streams_101")
        XCTAssertEqual(over["goaway"] as? Int, 1, "\(over)")
    }

    /// A stream waiting on an upstream holds a socket there, and one connection can have 100 such streams:
    /// past the one upstream a client connection's slot stands for, each takes a slot of `--max-connections`
    /// (as an HTTP/2 tunnel does), so one device cannot spend the descriptors the gateway keeps for listeners,
    /// configuration and CRLs. Under 96 descriptors (24 slots, 48 kept in reserve) 100 slow streams get what the
    /// slots allow and 503 `UO` for the rest, and the slots are free again once they are answered.
    func testStreamsWaitingOnUpstreamsTakeConnectionSlots() throws {
        harness.stop()
        harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway(fileLimit: 96)
        let result = try probe("streams_100")
        let ok = result["ok"] as? Int ?? -1
        let statuses = result["statuses"] as? [String: Int] ?? [:]
        XCTAssertGreaterThan(ok, 0, "\(result)")
        XCTAssertLessThanOrEqual(ok, 24, "streams beyond the connection slots reached the upstream: \(result)")
        XCTAssertEqual(statuses["503"], 100 - ok, "the others are refused, not failed: \(result)")
        XCTAssertNil(result["goaway"] as? Int, "\(result)")
        XCTAssertFalse(harness.gateway!.log.contains("accepting paused"), "the gateway ran out of descriptors")
        XCTAssertTrue(
            harness.gateway!.log.contains("503 UO upstream_reset_before_response_started{overflow}"),
            "the refused streams' access log lines")
        let again = try probe("streams_100")
        XCTAssertEqual(again["ok"] as? Int, ok, "the slots were given back: \(again)")
    }

    /// CVE-2023-44487: opening and resetting streams without pause gets GOAWAY long before 1000 resets, and
    /// the reset streams cost the upstream nothing.
    func testRapidResetIsAnsweredWithGoAway() throws {
        let result = try probe("rapid_reset")
        XCTAssertNotNil(result["goaway"] as? Int, "\(result)")
        let stats = try harness.upstreamStats()
        XCTAssertLessThanOrEqual(stats.inProgress, 5, "reset streams were forwarded: \(stats)")
        XCTAssertEqual(try harness.curl("/uuid").status, 200, "the gateway serves other connections")
    }

    /// CVE-2024-27316 class (nghttp2 CVE-2024-28182, fixed in Debian's 1.52.0-1+deb12u2): CONTINUATION frames
    /// without end end the connection instead of being buffered.
    func testContinuationFloodClosesTheConnection() throws {
        let result = try probe("continuation_flood")
        XCTAssertTrue(result["goaway"] as? Int != nil || result["closed"] as? Bool == true, "\(result)")
        XCTAssertLessThan(result["sent"] as? Int ?? 100000, 100000, "the server stopped reading the flood: \(result)")
        XCTAssertEqual(result["goaway"] as? Int, 11, "ENHANCE_YOUR_CALM: \(result)")
    }

    /// A stream whose client does not read (its window shut) does not stall another on the same connection.
    func testOneStalledStreamDoesNotStallAnother() throws {
        let result = try probe("slow_stream")
        XCTAssertEqual(result["fast_status"] as? Int, 200, "\(result)")
        XCTAssertEqual(result["fast_ended"] as? Bool, true, "\(result)")
        XCTAssertLessThanOrEqual(result["slow_received"] as? Int ?? .max, 65535, "\(result)")
    }
}
