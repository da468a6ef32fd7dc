import Foundation
import TestSupport
import XCTest

/// A browser's WebSocket through the gateway: headless Chromium or Firefox with the device's certificate loads the
/// demo upstream's `/ws/` page, whose script opens `wss://…/ws/echo` on the same origin and shows the echo. The page
/// came over h2 and the gateway offers RFC 8441, so both browsers open the WebSocket as a stream of that
/// connection: the tunnel's access log line says HTTP/2.
final class WebSocketBrowserTests: XCTestCase {
    func testAPageOpensAWebSocketWithTheClientCertificate() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL")
        defer { harness.stop() }
        let origin = "https://\(Manifests.host):\(harness.port())"
        let chromium = try harness.chromium(device: "jinsu-macbook", origin: origin)
        let browser = try chromium.devTools(host: Manifests.host)
        defer { browser.close() }
        try echo(in: browser, harness: harness, origin: origin)
    }

    /// Firefox ESR (its `network.http.http2.websockets`, on by default).
    func testFirefoxOpensItsWebSocketOverHTTP2() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL")
        defer { harness.stop() }
        let firefox = try HeadlessFirefox(
            caCertificate: harness.pki.caCertificate,
            clientP12: (harness.pki.directory.appendingPathComponent("jinsu-macbook.p12").path, "tollgate"))
        defer { firefox.close() }
        try echo(in: firefox, harness: harness, origin: "https://\(Manifests.host):\(harness.port())")
    }

    private func echo(in browser: PageDriver, harness: GatewayHarness, origin: String) throws {
        let error = try browser.load(
            "\(origin)/ws/", viewport: BrowserViewport(width: 800, height: 600, scale: 1, mobile: false))
        XCTAssertNil(error, browser.stderrTail)
        var echo = ""
        try waitUntil(timeout: 20, "the page to show the echo") {
            echo = (try? browser.evaluate("document.getElementById('echo').textContent") as? String) ?? ""
            return echo.hasPrefix("hello through the gateway")
        }
        let sent = try browser.evaluate("document.getElementById('sent').textContent") as? String
        XCTAssertEqual(echo, sent)
        // No flag: the close handshake finished before the stream ended.
        try waitUntil(timeout: 10, "the page's close handshake and the tunnel's log line") {
            harness.gateway!.log.split(separator: "\n").contains {
                $0.contains("\"GET /ws/echo HTTP/2\" 101 - via_upstream") && $0.hasSuffix("principal=jinsu-macbook")
            }
        }
        // The page's close event and the gateway's log line come in either order.
        try waitUntil(timeout: 10, "the page's close event with code 1000") {
            (try? browser.evaluate("document.body.dataset.closed") as? String) == "1000"
        }
    }
}
