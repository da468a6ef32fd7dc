import Dispatch
import Foundation
import Synchronization
import XCTest

@testable import TollgateServer

/// The pending-enrollment folder and the attempt counter, without a gateway.
final class EnrollmentStoreTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("enroll-\(UUID().uuidString)").path
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func pending(expires: Int64) -> PendingEnrollment {
        PendingEnrollment(
            name: "phone-tls", principal: "phone", expires: expires, certificateNotAfter: 2_000_000_000,
            bundle: [1, 2, 3], caCertificate: Array("-----BEGIN CERTIFICATE-----\n".utf8))
    }

    func testATokenOpensItsBundleOnceAndIsStoredOnlyAsAHash() throws {
        let store = EnrollmentStore(directory: directory)
        let (token, hash) = EnrollmentStore.newToken()
        XCTAssertEqual(token.utf8.count, 43)
        XCTAssertNotEqual(EnrollmentStore.newToken().token, token)
        try store.add(pending(expires: 1000), tokenHash: hash)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        XCTAssertEqual(files, ["\(hash).json"])
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(directory!)/\(hash).json")
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)

        XCTAssertEqual(store.look(token: token, now: 10), .found(pending(expires: 1000)))
        XCTAssertEqual(store.look(token: token, now: 10), .found(pending(expires: 1000)), "looking does not burn")
        XCTAssertEqual(store.look(token: String(token.dropLast()) + "x", now: 10), .unknown)
        XCTAssertEqual(store.claim(token: token, now: 10), .found(pending(expires: 1000)))
        XCTAssertEqual(store.claim(token: token, now: 10), .unknown)
        XCTAssertEqual(store.look(token: token, now: 10), .unknown)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), [])
    }

    func testConcurrentClaimsHandTheBundleOutOnce() throws {
        let store = EnrollmentStore(directory: directory)
        let (token, hash) = EnrollmentStore.newToken()
        try store.add(pending(expires: 1000), tokenHash: hash)
        let found = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            if case .found = store.claim(token: token, now: 10) { found.add(1, ordering: .relaxed) }
        }
        XCTAssertEqual(found.load(ordering: .relaxed), 1)
    }

    func testAnExpiredLinkOpensNothingAndIsRemoved() throws {
        let store = EnrollmentStore(directory: directory)
        let (token, hash) = EnrollmentStore.newToken()
        try store.add(pending(expires: 100), tokenHash: hash)
        XCTAssertEqual(store.look(token: token, now: 100), .expired(pending(expires: 100)))
        XCTAssertEqual(store.claim(token: token, now: 100), .unknown, "removed when found expired")
        let (other, otherHash) = EnrollmentStore.newToken()
        try store.add(pending(expires: 100), tokenHash: otherHash)
        XCTAssertEqual(store.claim(token: other, now: 101), .expired(pending(expires: 100)))
        try store.add(pending(expires: 100), tokenHash: otherHash)
        XCTAssertEqual(store.removeExpired(now: 101), ["phone-tls"])
        XCTAssertEqual(store.look(token: other, now: 0), .unknown)
    }

    func testNoFolderMeansNoLinks() {
        XCTAssertEqual(EnrollmentStore(directory: directory).claim(token: "x", now: 0), .unknown)
    }

    func testConstantTimeComparison() {
        XCTAssertTrue(EnrollmentStore.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        XCTAssertFalse(EnrollmentStore.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        XCTAssertFalse(EnrollmentStore.constantTimeEqual(Array("abc".utf8), Array("ab".utf8)))
    }

    func testAttemptsRefillOverTimeAndTheTableStaysBounded() {
        let limiter = EnrollmentRateLimiter(burst: 3, refillSeconds: 30, maxClients: 2)
        let second: UInt64 = 1_000_000_000
        for _ in 0..<3 { XCTAssertTrue(limiter.admit("198.51.100.7", nowNanos: 0)) }
        XCTAssertFalse(limiter.admit("198.51.100.7", nowNanos: 0))
        XCTAssertTrue(limiter.admit("203.0.113.9", nowNanos: 0), "another address has its own attempts")
        XCTAssertFalse(limiter.admit("198.51.100.7", nowNanos: 29 * second))
        XCTAssertTrue(limiter.admit("198.51.100.7", nowNanos: 60 * second), "one more every 30 s")
        XCTAssertTrue(limiter.admit("198.51.100.7", nowNanos: 60 * second), "two after 60 s")
        XCTAssertFalse(limiter.admit("198.51.100.7", nowNanos: 60 * second))
        // A third address evicts the longest idle one, never grows the table past its bound.
        XCTAssertTrue(limiter.admit("192.0.2.1", nowNanos: 61 * second))
        XCTAssertFalse(limiter.admit("198.51.100.7", nowNanos: 61 * second), "the recently active one was kept")
    }
}
