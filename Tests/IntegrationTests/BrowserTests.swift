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
        func browser(_ device: String?) throws -> HeadlessChromium {
            try harness.chromium(device: device, origin: origin)
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

    /// MUTUAL without explain mode and a browser with no certificate: the browser must name the refused
    /// certificate in every load, not a dropped connection. A TLS 1.3 client has finished its handshake before
    /// the gateway's certificate_required alert arrives; Chromium reads that alert early (its post-handshake
    /// peek) and then asks the kernel whether the socket is still connected before sending its request, so a
    /// FIN sent with the alert made it report ERR_SOCKET_NOT_CONNECTED in about half the loads.
    func testARefusedCertificateIsNamedInEveryLoadInChromium() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL")
        defer { harness.stop() }
        let origin = "https://\(Manifests.host):\(harness.port())"
        let chromium = try HeadlessChromium(caCertificate: harness.pki.caCertificate, clientP12: nil, origin: origin)
        let tools = try chromium.devTools(host: Manifests.host)
        defer { tools.close() }
        var errors: [String] = []
        for _ in 0..<Self.refusedLoads {
            errors.append(try tools.load("\(origin)/uuid", viewport: Self.desktop, timeout: 20) ?? "loaded")
        }
        XCTAssertEqual(
            errors, Array(repeating: "net::ERR_BAD_SSL_CLIENT_AUTH_CERT", count: Self.refusedLoads), tools.stderrTail)
    }

    /// The same in Firefox ESR: its "Secure Connection Failed" page names the alert it read
    /// (Error Code: SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT), with or without a FIN behind the alert.
    func testARefusedCertificateIsNamedInEveryLoadInFirefox() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL")
        defer { harness.stop() }
        let firefox = try HeadlessFirefox(caCertificate: harness.pki.caCertificate, clientP12: nil)
        defer { firefox.close() }
        var codes: [String] = []
        for _ in 0..<Self.refusedLoads {
            let error = try firefox.load(
                "https://\(Manifests.host):\(harness.port())/uuid", viewport: Self.desktop, timeout: 20)
            // about:neterror's own API: the NSS error its page names (the page text is in a shadow root).
            let code = try firefox.evaluate("document.getNetErrorInfo?.().errorCodeString ?? 'none'") as? String
            codes.append("\(error ?? "loaded") \(code ?? "none")")
        }
        XCTAssertEqual(
            codes, Array(repeating: "nssFailure2 SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT", count: Self.refusedLoads),
            firefox.stderrTail)
    }

    static let refusedLoads = 20
    static let desktop = BrowserViewport(width: 1024, height: 768, scale: 1, mobile: false)
}
