import HTTP1
import XCTest

/// Untrusted bytes never trap the decoders: seeded random mutations of valid messages either decode or
/// yield an `HTTPParseError`, and the verdict does not depend on how the bytes are split.
final class DecoderRobustnessTests: XCTestCase {
    private struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    private let seeds = [
        "GET /a?b=c HTTP/1.1\r\nHost: h\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
        "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
    ]
    private let alphabet = Array("\r\n:; \t0123456789abcdefABCDEF-/?%HTTP".utf8) + [0, 0x7F, 0xFF]

    /// nil when rejected, else the events rendered as text.
    private func outcome(_ pieces: [[UInt8]]) -> String? {
        var decoder = RequestDecoder()
        var out = ""
        do {
            for piece in pieces {
                decoder.append(piece)
                while let event = try decoder.next() {
                    switch event {
                    case .head(let h): out += "H\(h.method) \(h.target) \(h.headers.count);"
                    case .body(let b): out += String(decoding: b, as: UTF8.self)
                    case .end:
                        out += ";E;"
                        decoder.prepareForNextMessage()
                    }
                }
            }
            return out
        } catch {
            return nil
        }
    }

    func testMutatedRequestsNeverTrapAndDoNotDependOnSplitting() {
        var rng = SplitMix(state: 0x70_11_6A_7E)
        for _ in 0..<3000 {
            var bytes = Array(seeds.randomElement(using: &rng)!.utf8)
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let position = Int.random(in: 0...bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0 where position < bytes.count: bytes.remove(at: position)
                case 1: bytes.insert(alphabet.randomElement(using: &rng)!, at: position)
                default: if position < bytes.count { bytes[position] = alphabet.randomElement(using: &rng)! }
                }
            }
            let whole = outcome([bytes])
            let cut = Int.random(in: 0...bytes.count, using: &rng)
            let split = outcome([Array(bytes[..<cut]), Array(bytes[cut...])])
            let dripped = outcome(bytes.map { [$0] })
            XCTAssertEqual(whole, split, "\(String(decoding: bytes, as: UTF8.self).debugDescription) split at \(cut)")
            XCTAssertEqual(whole, dripped, String(decoding: bytes, as: UTF8.self).debugDescription)
        }
    }
}
