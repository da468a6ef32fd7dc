import Foundation
import XCTest

@testable import TollgateTLS

/// Istio's `subjectAltNames`, `verifyCertificateHash` and `verifyCertificateSpki` as the verify callback
/// applies them to a client's leaf, without a handshake; the expected digests come from the openssl command.
final class ClientPinsTests: XCTestCase {
    private static let client = try! PKI.issue(
        CertificateSpec(
            commonName: "device", dnsNames: ["device.test"], uris: ["spiffe://device"],
            usages: [.clientAuth, .digitalSignature], validitySeconds: 3600),
        signedBy: nil)
    private static let server = try! PKI.issue(
        CertificateSpec(commonName: "gw.test", dnsNames: ["gw.test"], usages: [.serverAuth], validitySeconds: 3600),
        signedBy: nil)

    private func admits(_ configure: (inout TLSServerSettings) -> Void) throws -> Bool {
        var settings = TLSServerSettings(
            certificateChainPEM: Self.server.certificatePEM, privateKeyPEM: Self.server.privateKeyPEM)
        configure(&settings)
        let context = try TLSServerContext(settings)
        let leaf = try XCTUnwrap(X509Certificate.all(pem: Self.client.certificatePEM).first)
        return context.pinsAccept(leaf.pointer)
    }

    /// `openssl … | openssl dgst -sha256` over the client certificate: `pipeline` turns its PEM into the bytes hashed.
    private func openssl(_ pipeline: String) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pins-\(UUID().uuidString).pem")
        try Data(Self.client.certificatePEM).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "set -o pipefail; openssl x509 -in '\(file.path)' \(pipeline)"]
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testNoPinsAdmitAnyClient() throws {
        XCTAssertTrue(try admits { _ in })
    }

    func testSubjectAltNamesAdmitOnlyAListedName() throws {
        XCTAssertTrue(try admits { $0.subjectAltNames = ["spiffe://other", "spiffe://device"] })
        XCTAssertTrue(try admits { $0.subjectAltNames = ["device.test"] })
        XCTAssertFalse(try admits { $0.subjectAltNames = ["spiffe://other", "device"] })
    }

    func testCertificateHashMatchesWithColonsAndInEitherCase() throws {
        let hex = try openssl("-outform DER | openssl dgst -sha256 -r | cut -d' ' -f1")
        XCTAssertEqual(hex.count, 64)
        let colons = stride(from: 0, to: 64, by: 2).map {
            String(hex.dropFirst($0).prefix(2))
        }.joined(separator: ":").uppercased()
        XCTAssertTrue(try admits { $0.certificateHashes = [hex] })
        XCTAssertTrue(try admits { $0.certificateHashes = [colons] })
        XCTAssertFalse(try admits { $0.certificateHashes = [String(repeating: "0", count: 64)] })
    }

    func testSPKIPinMatchesTheClientsPublicKey() throws {
        let pin = try openssl(
            "-pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64")
        XCTAssertTrue(try admits { $0.spkiPins = [pin] })
        XCTAssertFalse(try admits { $0.spkiPins = ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="] })
    }

    func testNamesAndPinsMustBothHold() throws {
        let pin = try openssl(
            "-pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64")
        XCTAssertFalse(
            try admits {
                $0.subjectAltNames = ["spiffe://other"]
                $0.spkiPins = [pin]
            })
    }
}
