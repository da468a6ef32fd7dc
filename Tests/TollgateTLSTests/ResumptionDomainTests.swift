import TollgateCore
import XCTest

@testable import TollgateTLS

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
        let okm = hkdfSHA256(
            secret: bytes(hex: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
            salt: bytes(hex: "000102030405060708090a0b0c"),
            info: bytes(hex: "f0f1f2f3f4f5f6f7f8f9"), length: 42)
        XCTAssertEqual(
            okm, bytes(hex: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"))
    }

    private let base = TLSServerSettings(
        certificateChainPEM: [], privateKeyPEM: [], clientCAPEM: Array("CA".utf8),
        clientAuthentication: .required)

    func testEveryTrustSettingSeparatesDomains() {
        var variants: [String: TLSServerSettings] = ["base": base]
        var s = base
        s.clientAuthentication = .optional
        variants["optional"] = s
        s = base
        s.clientAuthentication = .none
        variants["none"] = s
        s = base
        s.clientCAPEM = Array("other CA".utf8)
        variants["ca"] = s
        s = base
        s.crlPEM = Array("CRL".utf8)
        variants["crl"] = s
        s = base
        s.subjectAltNames = ["spiffe://a"]
        variants["san"] = s
        s = base
        s.spkiPins = ["pin"]
        variants["spki"] = s
        s = base
        s.certificateHashes = ["hash"]
        variants["hash"] = s
        s = base
        s.explainFailures = true
        variants["explain"] = s
        s = base
        s.admitsClientsWithoutCertificate = true
        variants["enrollment"] = s
        let ring = SessionTicketKeyRing(secrets: [Array(repeating: 7, count: 80)])
        let domains = variants.mapValues { ResumptionDomain(settings: $0, ring: ring) }
        XCTAssertEqual(Set(domains.values.map(\.sessionIDContext)).count, variants.count)
        XCTAssertEqual(Set(domains.values.map { $0.ticketKeys[0].name }).count, variants.count)
        XCTAssertEqual(Set(domains.values.map { $0.ticketKeys[0].aesKey }).count, variants.count)
        XCTAssertTrue(
            domains.values.allSatisfy { $0.sessionIDContext.count == 32 && $0.ticketKeys[0].hmacKey.count == 32 })
    }

    func testSameTrustSameDomainWhateverTheServerCertificateOrOrder() {
        var renewed = base
        renewed.certificateChainPEM = Array("renewed".utf8)
        renewed.minVersion = .tls13
        var a = base
        a.subjectAltNames = ["x", "y"]
        var b = base
        b.subjectAltNames = ["y", "x"]
        let ring = SessionTicketKeyRing(secrets: [Array(repeating: 1, count: 80)])
        XCTAssertEqual(
            ResumptionDomain(settings: base, ring: ring).sessionIDContext,
            ResumptionDomain(settings: renewed, ring: ring).sessionIDContext)
        XCTAssertEqual(
            ResumptionDomain(settings: a, ring: ring).ticketKeys, ResumptionDomain(settings: b, ring: ring).ticketKeys)
        let otherRing = SessionTicketKeyRing(secrets: [Array(repeating: 2, count: 80)])
        XCTAssertNotEqual(
            ResumptionDomain(settings: base, ring: ring).ticketKeys[0].aesKey,
            ResumptionDomain(settings: base, ring: otherRing).ticketKeys[0].aesKey, "another secret, other keys")
    }

    /// Rotation: the new key seals, older ones still open, and each block's keys follow the ring.
    func testRotationKeepsOlderKeysForOpening() {
        let ring = SessionTicketKeyRing(secrets: [Array(repeating: 1, count: 80)])
        let domain = ResumptionDomain(settings: base, ring: ring)
        let before = domain.ticketKeys
        ring.rotate(keep: 3)
        XCTAssertEqual(domain.ticketKeys.count, 2)
        XCTAssertEqual(domain.ticketKeys[1], before[0], "the previous key still opens tickets")
        XCTAssertNotEqual(domain.ticketKeys[0], before[0])
        ring.rotate(keep: 3)
        ring.rotate(keep: 3)
        XCTAssertEqual(domain.ticketKeys.count, 3)
        XCTAssertFalse(domain.ticketKeys.contains(before[0]), "the oldest key is dropped")
        ring.replace(with: [Array(repeating: 9, count: 80)])
        XCTAssertEqual(
            domain.ticketKeys,
            [SessionTicketKey(secret: Array(repeating: 9, count: 80), domain: domain.sessionIDContext)])
    }

    func testKeyFileFormat() throws {
        let key = Base64.encode(Array(repeating: 5, count: 80))
        let keys = try SessionTicketKeyRing.parse(
            "# rotated 2026-12-03\n\(key)\r\n\n  \(Base64.encode(Array(repeating: 6, count: 80)))\n")
        XCTAssertEqual(keys, [Array(repeating: 5, count: 80), Array(repeating: 6, count: 80)])
        for (text, line) in [("\(key)\nnot*base64\n", 2), (Base64.encode(Array(repeating: 1, count: 48)), 1)]
            as [(String, Int?)]
        {
            XCTAssertThrowsError(try SessionTicketKeyRing.parse(text)) { error in
                XCTAssertEqual((error as? SessionTicketKeyRing.FileError)?.line, line, "\(error)")
            }
        }
        XCTAssertThrowsError(try SessionTicketKeyRing.parse("# nothing\n"))
    }
}
