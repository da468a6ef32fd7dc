import TollgateCore
import XCTest

final class CertificateInventoryTests: XCTestCase {
    private func record(_ name: String, serial: String, notAfter: Int64) -> IssuedCertificateRecord {
        IssuedCertificateRecord(
            name: name, kind: "client", principal: name, serial: serial, sha256: "sha-\(serial)", key: "ECDSA 256",
            notBefore: 0, notAfter: notAfter, issuedAt: 0)
    }

    func testStatuses() {
        let now: Int64 = 1_000_000_000
        let day: Int64 = 86_400
        let records = [
            record("b-laptop", serial: "0a", notAfter: now + 400 * day),
            record("a-phone", serial: "01", notAfter: now + 10 * day),
            record("c-old", serial: "02", notAfter: now - 1),
            record("d-lost", serial: "FF", notAfter: now + 400 * day),
            record("b-laptop", serial: "0b", notAfter: now + 800 * day),
            record("e-edge", serial: "03", notAfter: now + 30 * day),
        ]
        let entries = CertificateInventory.entries(
            records, revokedSerials: ["ff"], lastSeen: ["sha-0b": now - 5], now: now)
        XCTAssertEqual(
            entries.map(\.certificate.serial), ["01", "0b", "0a", "02", "FF", "03"], "by name, newest first")
        XCTAssertEqual(entries.map(\.status), [.expiring, .valid, .replaced, .expired, .revoked, .valid])
        XCTAssertEqual(entries.map(\.lastSeen), [nil, now - 5, nil, nil, nil, nil])
    }
}
