import Prometheus
import XCTest

@testable import TollgateServer

final class ClientCertificateExpiryTests: XCTestCase {
    func testOneSeriesPerPrincipalBoundedAndEscaped() {
        let registry = PrometheusCollectorRegistry()
        let expiry = ClientCertificateExpiry(registry: registry, maxPrincipals: 2)
        expiry.presented(principal: "jinsu-macbook", notAfter: 100)
        expiry.presented(principal: "jinsu-macbook", notAfter: 200)
        expiry.presented(principal: "a\"b\\c\r\nd%", notAfter: 300)
        expiry.presented(principal: "third", notAfter: 400)
        XCTAssertEqual(expiry.principalCount, 2)
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        XCTAssertTrue(
            text.contains("tollgate_client_certificate_expiry_timestamp_seconds{principal=\"jinsu-macbook\"} 200.0"),
            "the certificate presented last: \(text)")
        XCTAssertTrue(
            text.contains("{principal=\"a\\\"b\\\\c%0D%0Ad%25\"} 300.0"),
            "quote and backslash escaped, controls encoded: \(text)")
        XCTAssertFalse(text.contains("third"), "past the bound nothing new is added")
    }
}
