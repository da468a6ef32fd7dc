import Foundation
import TestSupport
import XCTest

/// A real browser takes h2 when the gateway offers it: headless Chromium with the device's client
/// certificate loads a page over HTTP/2 with mutual TLS.
final class HTTP2BrowserTests: XCTestCase {
    func testChromiumLoadsAPageOverH2WithItsClientCertificate() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL")
        defer { harness.stop() }
        let origin = "https://\(Manifests.host):\(harness.port())"
        let chromium = try harness.chromium(device: "jinsu-macbook", origin: origin)
        let tools = try chromium.devTools(host: Manifests.host)
        defer { tools.close() }
        let error = try tools.load(
            "\(origin)/headers", viewport: BrowserViewport(width: 800, height: 600, scale: 1, mobile: false))
        XCTAssertNil(error)
        XCTAssertEqual(try tools.evaluate("performance.getEntries()[0].nextHopProtocol") as? String, "h2")
        let text = try tools.evaluate("document.body.innerText") as? String ?? ""
        XCTAssertTrue(text.contains("URI=spiffe://jinsu-macbook"), text)
        XCTAssertTrue(harness.gateway!.log.contains("\"GET /headers HTTP/2\" 200"), "the access log says HTTP/2")
    }
}
