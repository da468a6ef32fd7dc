import TollgateCore
import XCTest

final class IPAddressTests: XCTestCase {
    func testTextOfFourAndSixteenBytes() {
        XCTAssertEqual(IPAddress(bytes: [192, 0, 2, 7]).description, "192.0.2.7")
        XCTAssertEqual(
            IPAddress(bytes: [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [7]).description, "2001:db8::7"
        )
    }

    /// Found by Fuzz/FuzzCertificate: an IP SAN is an OCTET STRING of any length, and the verify callback
    /// renders each SAN to compare it with `subjectAltNames` pins. Any length but 4 made inet_ntop read 16
    /// bytes (a heap over-read AddressSanitizer reports); now such a name reads as OpenSSL prints it.
    func testOtherLengthsAreNotReadPastTheirEnd() {
        for length in [0, 1, 3, 5, 15, 17, 64] {
            XCTAssertEqual(
                IPAddress(bytes: Array(repeating: 0x7F, count: length)).description, "<invalid length=\(length)>")
        }
    }
}
