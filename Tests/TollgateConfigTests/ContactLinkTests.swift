import XCTest

@testable import TollgateConfig

final class ContactLinkTests: XCTestCase {
    private func gateway(contact: String) -> String {
        """
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: g
          annotations:
            tollgate.io/explain: "true"
            tollgate.io/contact: '\(contact)'
        spec:
          servers:
            - hosts: [a.test]
              port: {number: 443, name: https, protocol: HTTPS}
              tls: {mode: SIMPLE, credentialName: x}
        """
    }

    private func loadErrors(_ yaml: String) -> [String] {
        do {
            _ = try ConfigLoader.load([("gateway.yaml", yaml)])
            return []
        } catch let error as ConfigError {
            return error.diagnostics.map(\.description)
        } catch {
            return ["\(error)"]
        }
    }

    func testMailtoAndHTTPSContactsLoad() throws {
        for contact in [
            "mailto:ops@example.com", "mailto:ops@example.com,security@example.com",
            "https://help.example.com/ticket?team=edge#form",
        ] {
            XCTAssertEqual(loadErrors(gateway(contact: contact)), [], contact)
        }
        let model = try ConfigLoader.load([("gateway.yaml", gateway(contact: "mailto:ops@example.com"))])
        XCTAssertEqual(model.gateways[0].meta.annotations[ContactLink.annotation], "mailto:ops@example.com")
    }

    /// Only mailto: and https: may reach a page shown to visitors; everything else fails the load with its place.
    func testAnyOtherContactIsAConfigErrorWithFileLineAndPath() {
        let cases = [
            ("javascript:alert(1)", "must be a mailto: address or an https: URL"),
            ("http://help.example.com/", "must be a mailto: address or an https: URL"),
            ("ops@example.com", "must be a mailto: address or an https: URL"),
            ("mailto:ops", "is not a mailto: address"),
            ("mailto:ops@example.com?subject=hi", "give the address only"),
            ("https://help.example.com/a b", "must be percent-encoded"),
            ("https://help.example.com/\"onmouseover=x", "must be percent-encoded"),
            ("https://", "has no host name"),
            ("https://help.example.com@evil.example/", "carries a user name"),
        ]
        for (contact, message) in cases {
            let found = loadErrors(gateway(contact: contact))
            XCTAssertEqual(found.count, 1, "\(contact): \(found)")
            XCTAssertTrue(
                found.first?.hasPrefix("gateway.yaml:7: error: metadata.annotations.tollgate.io/contact: ") ?? false,
                "\(contact): \(found)")
            XCTAssertTrue(found.first?.contains(message) ?? false, "\(contact): \(found)")
        }
    }

    func testEmailLinkCarriesTheRequestIDInSubjectAndBody() throws {
        let contact = try ContactLink(validating: "mailto:ops@example.com")
        XCTAssertEqual(contact.kind, .email)
        XCTAssertEqual(
            contact.link(requestID: "r-1", subject: "Request r-1 on gw.test", body: "Request id: r-1\nPage: /a&b=c"),
            "mailto:ops@example.com?subject=Request%20r-1%20on%20gw.test&body=Request%20id%3A%20r-1%0D%0APage%3A%20%2Fa%26b%3Dc"
        )
    }

    func testWebLinkAddsARequestIDParameterBeforeTheFragment() throws {
        func link(_ url: String, _ id: String = "2f0d-7e") throws -> String {
            try ContactLink(validating: url).link(requestID: id, subject: "s", body: "b")
        }
        XCTAssertEqual(try link("https://help.example.com"), "https://help.example.com?request_id=2f0d-7e")
        XCTAssertEqual(
            try link("https://help.example.com/t?team=edge#form"),
            "https://help.example.com/t?team=edge&request_id=2f0d-7e#form")
        XCTAssertEqual(try link("https://help.example.com/t?"), "https://help.example.com/t?request_id=2f0d-7e")
        // A request id comes from the client (`x-request-id`): it cannot add parameters or markup.
        XCTAssertEqual(
            try link("https://help.example.com/", "x&admin=1\"<"),
            "https://help.example.com/?request_id=x%26admin%3D1%22%3C")
    }
}
