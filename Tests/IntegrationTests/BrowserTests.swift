import Foundation
import TestSupport
import XCTest

/// The walkthrough with a real browser: headless Chromium whose NSS database trusts the CA and holds
/// the device's .p12, as a person's browser would after importing them.
final class BrowserTests: XCTestCase {
    func testTheWalkthroughInChromium() throws {
        let harness = try GatewayHarness()
        defer { harness.stop() }
        func copySeed(_ name: String, as target: String? = nil) throws { try harness.copySeed(name, as: target) }
        try harness.startUpstream("server")
        try copySeed("server.yaml")
        try copySeed("gateway.yaml")
        try harness.startGateway()
        let host = Manifests.host
        let origin = "https://\(host):\(harness.port())"
        let ca = harness.pki.caCertificate
        func browser(_ device: String?) throws -> HeadlessChromium {
            try HeadlessChromium(
                caCertificate: ca,
                clientP12: device.map {
                    (harness.pki.directory.appendingPathComponent("\($0).p12").path, "tollgate", $0)
                },
                origin: origin)
        }

        // Step 3: SIMPLE. The CA is trusted, so the page loads.
        let anonymous = try browser(nil)
        let simple = try anonymous.load("\(origin)/uuid", host: host)
        XCTAssertNil(simple.netError, simple.stderr)
        XCTAssertTrue(simple.dom.contains("\"uuid\""), simple.dom)

        // Step 4: MUTUAL. Without a client certificate the load fails; with the macbook's it succeeds.
        var before = harness.reloadCount
        try copySeed("gateway-mutual.yaml", as: "gateway.yaml")
        try harness.waitForReload(after: before)
        let refused = try anonymous.load("\(origin)/uuid", host: host)
        XCTAssertNotNil(refused.netError, "a browser without a certificate must get a TLS error: \(refused.dom)")
        XCTAssertFalse(refused.dom.contains("uuid"), refused.dom)
        let macbook = try browser("jinsu-macbook")
        let mutual = try macbook.load("\(origin)/headers", host: host)
        XCTAssertNil(mutual.netError, mutual.stderr)
        XCTAssertTrue(mutual.dom.contains("URI=spiffe://jinsu-macbook"), mutual.dom)

        // Step 5: the DENY policy. The macbook sees the 403 body; the iphone still gets in.
        before = harness.reloadCount
        try copySeed("authorizationpolicy.yaml")
        try harness.waitForReload(after: before)
        let denied = try macbook.load("\(origin)/uuid", host: host)
        XCTAssertTrue(denied.dom.contains("RBAC: access denied"), denied.dom)
        let iphone = try browser("jinsu-iphone").load("\(origin)/uuid", host: host)
        XCTAssertNil(iphone.netError, iphone.stderr)
        XCTAssertTrue(iphone.dom.contains("\"uuid\""), iphone.dom)
    }
}
