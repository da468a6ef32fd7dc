@testable import TollgateTLS
import XCTest

final class ResumptionDomainTests: XCTestCase {
    private func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    /// RFC 5869 Appendix A.1, test case 1.
    func testHKDFMatchesRFC5869() {
        let okm = hkdfSHA256(secret: bytes(hex: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), salt: bytes(hex: "000102030405060708090a0b0c"),
                             info: bytes(hex: "f0f1f2f3f4f5f6f7f8f9"), length: 42)
        XCTAssertEqual(okm, bytes(hex: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"))
    }

    private let base = TLSServerSettings(certificateChainPEM: [], privateKeyPEM: [], clientCAPEM: Array("CA".utf8),
                                         clientAuthentication: .required)

    func testEveryTrustSettingSeparatesDomains() {
        var variants: [String: TLSServerSettings] = ["base": base]
        var s = base; s.clientAuthentication = .optional; variants["optional"] = s
        s = base; s.clientAuthentication = .none; variants["none"] = s
        s = base; s.clientCAPEM = Array("other CA".utf8); variants["ca"] = s
        s = base; s.crlPEM = Array("CRL".utf8); variants["crl"] = s
        s = base; s.subjectAltNames = ["spiffe://a"]; variants["san"] = s
        s = base; s.spkiPins = ["pin"]; variants["spki"] = s
        s = base; s.certificateHashes = ["hash"]; variants["hash"] = s
        s = base; s.explainFailures = true; variants["explain"] = s
        let domains = variants.mapValues { ResumptionDomain(settings: $0, secret: Array(repeating: 7, count: 32)) }
        XCTAssertEqual(Set(domains.values.map(\.sessionIDContext)).count, variants.count)
        XCTAssertEqual(Set(domains.values.map(\.ticketKey.name)).count, variants.count)
        XCTAssertEqual(Set(domains.values.map(\.ticketKey.aesKey)).count, variants.count)
        XCTAssertTrue(domains.values.allSatisfy { $0.sessionIDContext.count == 32 && $0.ticketKey.hmacKey.count == 32 })
    }

    func testSameTrustSameDomainWhateverTheServerCertificateOrOrder() {
        var renewed = base
        renewed.certificateChainPEM = Array("renewed".utf8)
        renewed.minVersion = .tls13
        var a = base; a.subjectAltNames = ["x", "y"]
        var b = base; b.subjectAltNames = ["y", "x"]
        let secret = Array(repeating: UInt8(1), count: 32)
        XCTAssertEqual(ResumptionDomain(settings: base, secret: secret).sessionIDContext,
                       ResumptionDomain(settings: renewed, secret: secret).sessionIDContext)
        XCTAssertEqual(ResumptionDomain(settings: a, secret: secret).ticketKey.name, ResumptionDomain(settings: b, secret: secret).ticketKey.name)
        XCTAssertNotEqual(ResumptionDomain(settings: base, secret: secret).ticketKey.aesKey,
                          ResumptionDomain(settings: base, secret: Array(repeating: 2, count: 32)).ticketKey.aesKey,
                          "another process secret, other keys")
    }
}
