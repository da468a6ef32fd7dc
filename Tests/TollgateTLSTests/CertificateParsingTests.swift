import Foundation
import TollgateCore
import TollgateTLS
import XCTest

/// Certificates made by the openssl command with names no honest CA signs, read as the handshake would.
final class CertificateParsingTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cert-parsing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// A self-signed DER certificate whose SAN extension is `sanItems` in OpenSSL's ASN1_generate syntax.
    private func certificate(sanItems: [String]) throws -> [UInt8] {
        let config = """
            [req]
            distinguished_name = dn
            prompt = no
            [dn]
            CN = odd
            [ext]
            subjectAltName = ASN1:SEQUENCE:san
            [san]
            \(sanItems.enumerated().map { "n\($0.offset) = \($0.element)" }.joined(separator: "\n"))
            """
        try config.write(to: directory.appendingPathComponent("req.cnf"), atomically: true, encoding: .utf8)
        try run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem"])
        try run([
            "req", "-x509", "-new", "-key", "key.pem", "-config", "req.cnf", "-extensions", "ext", "-days", "1",
            "-outform", "DER", "-out", "cert.der",
        ])
        return Array(try Data(contentsOf: directory.appendingPathComponent("cert.der")))
    }

    private func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = directory
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "openssl \(arguments.joined(separator: " "))")
    }

    private func hex(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined() }

    func testIPNamesOfEveryLengthAreRead() throws {
        let der = try certificate(sanItems: [
            "IMPLICIT:7,FORMAT:HEX,OCTETSTRING:c0000207", "IMPLICIT:7,FORMAT:HEX,OCTETSTRING:c00002",
            "IMPLICIT:7,OCTETSTRING:",
        ])
        let summary = try XCTUnwrap(CertificateSummary(der: der))
        XCTAssertEqual(
            summary.subjectAltNames, [.ipAddress([192, 0, 2, 7]), .ipAddress([192, 0, 2]), .ipAddress([])])
        XCTAssertEqual(
            summary.subjectAltNames.map { name -> String in
                if case .ipAddress(let bytes) = name { IPAddress(bytes: bytes).description } else { "" }
            }, ["192.0.2.7", "<invalid length=3>", "<invalid length=0>"])
        XCTAssertTrue(summary.covers(host: "192.0.2.7"))
        XCTAssertFalse(summary.covers(host: "192.0.2.0"))
    }

    func testLineBreaksInNamesMakeNoIdentity() throws {
        let der = try certificate(sanItems: [
            "IMPLICIT:6,FORMAT:HEX,OCTETSTRING:\(hex("spiffe://evil\r\nx-injected: yes"))",
            "IMPLICIT:2,FORMAT:HEX,OCTETSTRING:\(hex("a.test\r\nx: y"))",
        ])
        let identity = try XCTUnwrap(PeerIdentity(verifiedCertificateDER: der))
        XCTAssertEqual(identity.uris, ["spiffe://evil\r\nx-injected: yes"])
        XCTAssertNil(identity.principal)
        XCTAssertEqual(identity.matchableNames, ["CN=odd"])
        XCTAssertEqual(identity.leafSHA256.count, 64)
        XCTAssertTrue(identity.leafPEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        let element = ForwardedHeaders.clientCertElement(identity)
        XCTAssertFalse(element.contains("\r") || element.contains("\n"), element)
    }

    func testBytesThatAreNotOneCertificateAreRefused() throws {
        let der = try certificate(sanItems: ["IMPLICIT:2,OCTETSTRING:a.test"])
        XCTAssertNotNil(CertificateSummary(der: der))
        XCTAssertNil(CertificateSummary(der: []))
        XCTAssertNil(CertificateSummary(der: Array(der.dropLast())))
        XCTAssertNil(CertificateSummary(der: der + [0]), "trailing bytes")
        XCTAssertNil(PeerIdentity(verifiedCertificateDER: Array(der.prefix(40))))
    }
}
