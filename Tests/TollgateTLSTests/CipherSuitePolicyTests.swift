import TollgateTLS
import XCTest

/// `validate`'s judgement of configured cipher strings against the default policy (ECDHE, AEAD, the default
/// security level), with OpenSSL expanding the strings as the server would.
final class CipherSuitePolicyTests: XCTestCase {
    func testShortcomings() {
        XCTAssertEqual(
            CipherSuitePolicy.shortcomings(
                CipherSuiteDescription(name: "ECDHE-RSA-AES128-GCM-SHA256", keyExchange: .ecdhe, isAEAD: true)), [])
        XCTAssertEqual(
            CipherSuitePolicy.shortcomings(
                CipherSuiteDescription(name: "AES128-SHA", keyExchange: .rsa, isAEAD: false)),
            ["static RSA key exchange (no forward secrecy)", "CBC with a separate MAC (not AEAD)"])
        XCTAssertEqual(
            CipherSuitePolicy.shortcomings(
                CipherSuiteDescription(
                    name: "AECDH-NULL-SHA", keyExchange: .ecdhe, anonymous: true,
                    isAEAD: false, encrypts: false, bits: 0)),
            ["no server authentication (anonymous)", "no encryption"])
    }

    func testOpenSSLDescribesSuitesAsTheServerWouldUseThem() throws {
        let expansion = try XCTUnwrap(CipherSuiteCatalog.expand("AES128-SHA:ECDHE-ECDSA-CHACHA20-POLY1305"))
        XCTAssertEqual(
            expansion.suites.map(\.name), ["AES128-SHA", "ECDHE-ECDSA-CHACHA20-POLY1305"], "TLS 1.3 suites are left out"
        )
        XCTAssertEqual(
            expansion.suites.first,
            CipherSuiteDescription(name: "AES128-SHA", keyExchange: .rsa, isAEAD: false, bits: 128))
        XCTAssertEqual(expansion.suites.last?.isAEAD, true)
        XCTAssertEqual(CipherSuiteCatalog.expand("DEFAULT:@SECLEVEL=0")?.securityLevel, 0)
        XCTAssertNil(CipherSuiteCatalog.expand("NO-SUCH-SUITE"))
        XCTAssertGreaterThanOrEqual(CipherSuiteCatalog.defaultSecurityLevel, 1)
    }

    func testFindingsNameTheEntryThatEnablesAWeakSuite() {
        let findings = CipherSuitePolicy.findings(
            [
                "ECDHE-RSA-AES128-GCM-SHA256", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA:!aNULL", "@SECLEVEL=0",
                "NOPE", "-AES128-SHA",
            ],
            defaultSecurityLevel: 2, expand: CipherSuiteCatalog.expand)
        XCTAssertEqual(findings.map(\.index), [1, 2, 3, 4])
        XCTAssertEqual(
            findings[0].message,
            "AES256-GCM-SHA384 is below Tollgate's default policy: static RSA key exchange (no forward secrecy)")
        XCTAssertEqual(
            findings[1].message,
            "ECDHE-RSA-AES128-SHA is below Tollgate's default policy: CBC with a separate MAC (not AEAD)")
        XCTAssertTrue(
            findings[2].message.hasPrefix("@SECLEVEL=0 lowers OpenSSL's security level from 2 to 0"),
            findings[2].message)
        XCTAssertEqual(findings[3].message, "NOPE names no cipher suite OpenSSL knows")
        // A suite a later entry removes is not held against the entry that added it.
        XCTAssertTrue(
            CipherSuitePolicy.findings(
                ["ECDHE+AESGCM:AES128-SHA", "!kRSA"], defaultSecurityLevel: 2,
                expand: CipherSuiteCatalog.expand
            ).isEmpty)
        let alias = CipherSuitePolicy.findings(["HIGH"], defaultSecurityLevel: 2, expand: CipherSuiteCatalog.expand)
        XCTAssertEqual(alias.count, 1)
        XCTAssertNotNil(
            alias.first?.message.range(
                of: #"^HIGH enables \d+ suites below Tollgate's default policy: "#, options: .regularExpression),
            "\(alias)")
        XCTAssertNotNil(
            alias.first?.message.range(
                of: #"static RSA key exchange \(no forward secrecy\) \(AES256-GCM-SHA384, [^)]* and \d+ more\)"#,
                options: .regularExpression), "\(alias)")
        XCTAssertLessThan(alias.first?.message.count ?? 0, 1000)
        XCTAssertTrue(
            CipherSuitePolicy.findings([], defaultSecurityLevel: 2, expand: CipherSuiteCatalog.expand).isEmpty)
    }
}
