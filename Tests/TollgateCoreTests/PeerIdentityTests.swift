import TollgateCore
import XCTest

final class PeerIdentityTests: XCTestCase {
    private func identity(_ names: [GeneralName], subject: String = "CN=x") -> PeerIdentity {
        PeerIdentity(verified: true, subjectAltNames: names, subject: subject, leafSHA256: "00", leafPEM: "")
    }

    func testNamesWithBytesNoIdentityHasAreNotIdentities() {
        XCTAssertEqual(identity([.uniformResourceIdentifier("spiffe://jinsu-macbook")]).principal, "jinsu-macbook")
        for bad in [
            "spiffe://evil\r\nx-injected: yes", "spiffe://a b", "spiffe://a\u{0}b", "spiffe://caf\u{e9}",
            "spiffe://a\u{7f}",
        ] {
            let id = identity([.uniformResourceIdentifier(bad), .dnsName("dns\nname")])
            XCTAssertNil(id.principal, bad.debugDescription)
            XCTAssertEqual(id.matchableNames, ["CN=x"], bad.debugDescription)
        }
        // A clean SPIFFE URI after a bad one still names the client.
        XCTAssertEqual(
            identity([.uniformResourceIdentifier("spiffe://a\rb"), .uniformResourceIdentifier("spiffe://ok")])
                .principal, "ok")
        XCTAssertEqual(identity([], subject: "CN=a\nb").matchableNames, [])
        XCTAssertNil(PeerIdentity.anonymous.principal)
    }

    func testForwardedClientCertEscapesControlBytes() {
        let id = identity([.uniformResourceIdentifier("spiffe://evil\r\nx: 1"), .dnsName("100%\u{1}")])
        let element = ForwardedHeaders.clientCertElement(id)
        XCTAssertFalse(element.utf8.contains { $0 < 0x20 }, element)
        XCTAssertTrue(element.contains("URI=spiffe://evil%0D%0Ax: 1"), element)
        XCTAssertTrue(element.contains("DNS=100%25%01"), element)
        XCTAssertEqual(
            ForwardedHeaders.escapingControlBytes("spiffe://100%clean"), "spiffe://100%clean",
            "clean names pass as they are")
    }

    /// Found by Fuzz/FuzzCertificate: a URI SAN of just `spiffe://` named the client with an empty principal
    /// (an empty `principal=` field in the access log, an empty metrics label). It names no one.
    func testEmptySpiffeURIIsNoPrincipal() {
        XCTAssertNil(identity([.uniformResourceIdentifier("spiffe://")]).principal)
        XCTAssertEqual(
            identity([.uniformResourceIdentifier("spiffe://"), .uniformResourceIdentifier("spiffe://td/ns/a/sa/b")])
                .principal,
            "td/ns/a/sa/b")
        XCTAssertEqual(identity([.uniformResourceIdentifier("spiffe://td/ns/a/sa/b")]).namespace, "a")
    }
}
