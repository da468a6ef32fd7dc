import Foundation
import TestSupport
import XCTest

/// The explain and whoami pages as a person sees them in Chromium, on a phone (390×844 CSS pixels, the
/// page's viewport honoured as a phone does) and on a desktop: no sideways scrolling, labels over values
/// on the phone and beside them on the desktop, the operator's details closed, the contact link carrying
/// the request id shown. With `TOLLGATE_SCREENSHOTS=DIR` (scripts/screenshots) it also writes the README's
/// PNGs there, so they are always pictures of pages that passed these checks.
final class BrowserLayoutTests: XCTestCase {
    struct Visit {
        var device: String?
        var path: String
        var heading: String
        var says: [String]
        var screenshot: String?
    }

    struct Layout {
        var scrollWidth: Int
        var innerWidth: Int
        var heading: String
        var text: String
        var stacked: Bool
        var beside: Bool
        var detailsOpen: Bool?
        var contact: String
        var requestID: String

        init(_ value: Any?) throws {
            let v = try XCTUnwrap(value as? [String: Any], "the page probe returned \(String(describing: value))")
            scrollWidth = v["scrollWidth"] as? Int ?? -1
            innerWidth = v["innerWidth"] as? Int ?? -1
            heading = v["heading"] as? String ?? ""
            text = v["text"] as? String ?? ""
            stacked = v["stacked"] as? Bool ?? false
            beside = v["beside"] as? Bool ?? false
            detailsOpen = v["detailsOpen"] as? Bool
            contact = v["contact"] as? String ?? ""
            requestID = v["requestId"] as? String ?? ""
        }
    }

    /// Measured in the page: widths, and for every visible label/value row whether the value sits under
    /// its label or beside it (rows inside the closed operator details are not visible and not counted).
    static let probe = """
        (() => {
          const box = e => e.getBoundingClientRect();
          const rows = [...document.querySelectorAll('dl > div')].filter(d => d.offsetParent !== null);
          const id = [...document.querySelectorAll('dt')].find(d => d.textContent === 'Request id');
          return {
            scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
            heading: document.querySelector('h1')?.textContent ?? '', text: document.body?.innerText ?? '',
            stacked: rows.length > 0 && rows.every(d => box(d.querySelector('dd')).top >= box(d.querySelector('dt')).bottom - 1),
            beside: rows.length > 0 && rows.every(d => box(d.querySelector('dd')).left >= box(d.querySelector('dt')).right),
            detailsOpen: document.querySelector('details')?.open ?? null,
            contact: document.querySelector('a.contact')?.href ?? '',
            requestId: id?.nextElementSibling?.textContent ?? '',
          };
        })()
        """

    /// CSS pixels as on a 6.1-inch phone; device pixel ratio 2 keeps the README's PNGs small (layout is in CSS pixels).
    static let phone = BrowserViewport(width: 390, height: 844, scale: 2, mobile: true)
    static let desktop = BrowserViewport(width: 1024, height: 768, scale: 1, mobile: false)

    static let visits = [
        Visit(
            device: nil, path: "/uuid", heading: "This site needs a device certificate",
            says: ["so the site refuses every page", "Already installed it?", "Email the operator"],
            screenshot: "explain-no-certificate"),
        Visit(
            device: nil, path: "/.tollgate/whoami", heading: "This browser sent no device certificate",
            says: ["so the site refuses every page"], screenshot: nil),
        Visit(
            device: "jinsu-macbook", path: "/uuid", heading: "This device isn't allowed to open this page",
            says: [
                "recognised this device as “jinsu-macbook”", "open /uuid. Other pages on this site may still work.",
            ],
            screenshot: "explain-denied"),
        Visit(
            device: "field-laptop", path: "/.tollgate/whoami", heading: "Your device, as this site sees it",
            says: [
                "cluster.local/ns/field-engineering/sa/jinsu-field-laptop-with-a-long-service-account-name",
                "This device's certificate expires on", "in 9 days", "With it, you may open this site's home page (/).",
            ],
            screenshot: "whoami"),
        Visit(
            device: "field-laptop", path: "/admin/settings", heading: "This device isn't allowed to open this page",
            says: ["open /admin/settings", "This device's certificate expires on"], screenshot: nil),
    ]
    static let devices: [String?] = [nil, "jinsu-macbook", "field-laptop"]

    /// A MUTUAL gateway in explain mode with whoami and a contact, the walkthrough's DENY policy for the
    /// macbook, and a DENY policy for `/admin/*`.
    private func startGateway() throws -> GatewayHarness {
        let harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.write(
            "gw.yaml",
            Manifests.gateway(mode: "MUTUAL").replacingOccurrences(
                of: "  name: mtls-gateway\n",
                with: """
                      name: mtls-gateway
                      annotations:
                        tollgate.io/explain: "true"
                        tollgate.io/whoami-path: /.tollgate/whoami
                        tollgate.io/contact: mailto:gateway-ops@example.com

                    """))
        try harness.copySeed("authorizationpolicy.yaml")
        try harness.write(
            "admin.yaml",
            """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: admin-pages, namespace: istio-system}
            spec:
              selector: {matchLabels: {istio: ingressgateway}}
              action: DENY
              rules:
              - to: [{operation: {paths: ['/admin/*']}}]
            """)
        try harness.startGateway()
        return harness
    }

    func testExplainAndWhoamiPagesFitAPhoneAndADesktopInChromium() throws {
        let harness = try startGateway()
        defer { harness.stop() }
        let origin = "https://\(Manifests.host):\(harness.port())"
        let screenshots = ProcessInfo.processInfo.environment["TOLLGATE_SCREENSHOTS"].map { URL(fileURLWithPath: $0) }
        // One browser per device, as a person's browser with that certificate imported.
        for device in Self.devices {
            let chromium = try harness.chromium(device: device, origin: origin)
            let tools = try chromium.devTools(host: Manifests.host)
            defer { tools.close() }
            try checkPages(in: tools, device: device, origin: origin) { visit, size in
                if let name = visit.screenshot, let directory = screenshots {
                    try tools.screenshot().write(to: directory.appendingPathComponent("\(name)-\(size).png"))
                }
            }
        }
    }

    /// The same pages in Firefox ESR, whose text layout and line breaking differ from Chromium's.
    func testExplainAndWhoamiPagesFitAPhoneAndADesktopInFirefox() throws {
        let harness = try startGateway()
        defer { harness.stop() }
        let origin = "https://\(Manifests.host):\(harness.port())"
        for device in Self.devices {
            let firefox = try HeadlessFirefox(
                caCertificate: harness.pki.caCertificate,
                clientP12: device.map { (harness.pki.directory.appendingPathComponent("\($0).p12").path, "tollgate") })
            defer { firefox.close() }
            try checkPages(in: firefox, device: device, origin: origin)
        }
    }

    private func checkPages(
        in browser: PageDriver, device: String?, origin: String,
        after: (Visit, String) throws -> Void = { _, _ in }
    ) throws {
        for visit in Self.visits where visit.device == device {
            for viewport in [Self.phone, Self.desktop] {
                let size = viewport.mobile ? "phone" : "desktop"
                let what = "\(visit.path) for \(device ?? "no certificate") on a \(size)"
                let error = try browser.load(origin + visit.path, viewport: viewport)
                XCTAssertNil(error, "\(what): \(browser.stderrTail)")
                let page = try Layout(browser.evaluate(Self.probe))
                XCTAssertEqual(page.heading, visit.heading, what)
                XCTAssertEqual(
                    page.innerWidth, viewport.width,
                    "\(what): the page widened the viewport (a phone zooms out to fit it)")
                XCTAssertLessThanOrEqual(page.scrollWidth, viewport.width, "\(what): the page scrolls sideways")
                XCTAssertTrue(
                    viewport.mobile ? page.stacked : page.beside,
                    "\(what): labels must be \(viewport.mobile ? "over" : "beside") their values")
                XCTAssertEqual(page.detailsOpen, false, "\(what): the operator's details start closed")
                for words in visit.says {
                    XCTAssertTrue(page.text.contains(words), "\(what) lacks '\(words)':\n\(page.text)")
                }
                for word in ["RBAC", "principal", "policy", "CN="] {
                    XCTAssertFalse(
                        page.text.contains(word),
                        "\(what) shows the operator's '\(word)' outside the details:\n\(page.text)")
                }
                XCTAssertFalse(page.requestID.isEmpty, what)
                XCTAssertTrue(
                    page.contact.hasPrefix(
                        "mailto:gateway-ops@example.com?subject=Request%20\(page.requestID)%20on%20\(Manifests.host)&body="
                    ),
                    "\(what): \(page.contact)")
                // Opened, the operator's details (SHA-256, distinguished names, SPIFFE URIs) must fit as well.
                _ = try browser.evaluate("document.querySelector('details').open = true")
                let opened = try Layout(browser.evaluate(Self.probe))
                XCTAssertEqual(
                    opened.innerWidth, viewport.width, "\(what), details open: the page widened the viewport")
                XCTAssertLessThanOrEqual(
                    opened.scrollWidth, viewport.width, "\(what), details open: the page scrolls sideways")
                XCTAssertTrue(
                    viewport.mobile ? opened.stacked : opened.beside, "\(what), details open: label placement")
                XCTAssertTrue(opened.text.contains("Request id"), what)
                _ = try browser.evaluate("document.querySelector('details').open = false")
                try after(visit, size)
            }
        }
    }

    /// The phone check above can fail: the pages as they were before #14 (no viewport, a table whose
    /// labels never wrap) are laid out 980 px wide on a phone, in both browsers.
    func testThePhoneCheckCatchesAPageWithoutAViewport() throws {
        let ca = try TestPKI.shared.get().caCertificate
        let old = """
            <!doctype html><html><head><meta charset="utf-8"><title>Who am I</title>
            <style>body{max-width:42rem;margin:3rem auto;padding:0 1rem}th{white-space:nowrap}</style></head>
            <body><h1>Who am I</h1><table><tr><th>Request id</th><td>2f0d6f7e-4c1b-4a53-9d0e-7c1f0b6a9e21</td></tr>
            <tr><th>Principal</th><td>cluster.local/ns/field-engineering/sa/jinsu-field-laptop-with-a-long-service-account-name</td></tr></table></body></html>
            """
        let url = "data:text/html;base64," + Data(old.utf8).base64EncodedString()
        let chromium = try HeadlessChromium(caCertificate: ca, clientP12: nil, origin: "https://unused.test").devTools(
            host: "unused.test")
        let firefox = try HeadlessFirefox(caCertificate: ca, clientP12: nil)
        for browser in [chromium, firefox] as [PageDriver] {
            defer { browser.close() }
            XCTAssertNil(try browser.load(url, viewport: Self.phone))
            let page = try Layout(browser.evaluate(Self.probe))
            XCTAssertEqual(page.heading, "Who am I", "\(type(of: browser))")
            XCTAssertEqual(
                page.innerWidth, 980, "\(type(of: browser)): without a viewport a phone lays the page out 980 px wide")
        }
    }
}
