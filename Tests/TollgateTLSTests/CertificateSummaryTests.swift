import TollgateCore
import TollgateTLS
import XCTest

/// Which hosts a server certificate covers (RFC 6125 §6.4: exact names, a wildcard for one leftmost label,
/// IP SANs for literal addresses): the credential analysis warns when a Gateway host is not covered.
final class CertificateSummaryTests: XCTestCase {
    func testHostCoverage() {
        let summary = CertificateSummary(
            subject: "CN=gw", issuer: "CN=ca",
            subjectAltNames: [.dnsName("Gw.Example.com"), .dnsName("*.apps.example.com"), .ipAddress([192, 0, 2, 7])])
        let cases: [(String, Bool)] = [
            ("gw.example.com", true), ("GW.EXAMPLE.COM", true), ("example.com", false), ("x.gw.example.com", false),
            ("a.apps.example.com", true), ("A.Apps.Example.com", true), ("apps.example.com", false),
            ("a.b.apps.example.com", false), ("192.0.2.7", true), ("192.0.2.8", false), ("", false),
        ]
        for (host, covered) in cases { XCTAssertEqual(summary.covers(host: host), covered, host) }
    }

    func testACertificateWithoutNamesCoversNothing() {
        XCTAssertFalse(CertificateSummary(subject: "CN=gw.example.com", issuer: "CN=ca").covers(host: "gw.example.com"))
    }
}
