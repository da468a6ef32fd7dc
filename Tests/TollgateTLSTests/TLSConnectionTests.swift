import XCTest

@testable import TollgateTLS

#if canImport(Glibc)
    import Glibc
#endif

/// Settings OpenSSL takes from the context an `SSL` is created from must reach every connection.
final class TLSConnectionTests: XCTestCase {
    func testConnectionsGetPartialWritesMovingBuffersReleasedBuffersAndReadAhead() throws {
        let issued = try PKI.issue(
            CertificateSpec(
                commonName: "a.test", dnsNames: ["a.test"], usages: [.serverAuth, .digitalSignature],
                validitySeconds: 3600, key: .ecdsa(curve: .p256)), signedBy: nil)
        let context = try TLSServerContext(
            TLSServerSettings(certificateChainPEM: issued.certificatePEM, privateKeyPEM: issued.privateKeyPEM))
        let group = try TLSServerGroup([.init(hosts: ["a.test"], context: context)])
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        let connection = try TLSConnection(group: group, fileDescriptor: fds[0])
        let wanted = TLSServerContext.connectionModes
        XCTAssertEqual(wanted & 0x13, 0x13, "partial writes (1), moving buffers (2), released buffers (0x10)")
        XCTAssertEqual(connection.mode.flags & wanted, wanted)
        XCTAssertTrue(connection.mode.readAhead)
    }
}
