/// Checks a request line byte by byte as it arrives (RFC 9112 §3: method SP request-target SP
/// HTTP-version CRLF), so a peer that sends something that cannot become a request line is answered 400
/// at once instead of being held until the header timeout (nginx does the same). Only the shape is
/// checked here; `RequestDecoder.parseHead` still validates the whole line once it is complete.
///
/// A value type fed every head byte once, in order; `reset()` before the next message's head.
struct RequestLineScanner: Sendable {
    private enum State: Sendable {
        /// Before the method; empty lines (CRLF) may precede a request (RFC 9112 §2.2).
        case lineStart
        case leadingLF
        case method
        case targetStart
        /// Inside `http://` or `https://` of an absolute-form target.
        case scheme
        case target
        case version(Int)
        case finalLF
        case done
    }

    private var state = State.lineStart
    private var scheme: [UInt8] = []

    var isDone: Bool { if case .done = state { true } else { false } }

    mutating func reset() {
        state = .lineStart
        scheme.removeAll(keepingCapacity: true)
    }

    private static let versionPrefix = Array("HTTP/".utf8)
    private static let schemes = [Array("http://".utf8), Array("https://".utf8)]

    mutating func consume(_ b: UInt8) throws {
        switch state {
        case .lineStart:
            if b == UInt8(ascii: "\r") {
                state = .leadingLF
            } else if HeadParser.isTokenByte(b) {
                state = .method
            } else {
                throw HTTPParseError.bad("malformed request line")
            }
        case .leadingLF:
            guard b == UInt8(ascii: "\n") else { throw HTTPParseError.bad("bare CR before the request line") }
            state = .lineStart
        case .method:
            if b == UInt8(ascii: " ") {
                state = .targetStart
            } else if !HeadParser.isTokenByte(b) {
                throw HTTPParseError.bad("invalid method")
            }
        case .targetStart:
            switch b {
            case UInt8(ascii: "/"), UInt8(ascii: "*"):
                state = .target
            case UInt8(ascii: "h"), UInt8(ascii: "H"):
                scheme = [UInt8(ascii: "h")]
                state = .scheme
            default:
                throw HTTPParseError.bad("unsupported request target form")
            }
        case .scheme:
            scheme.append(b | (b >= 0x41 && b <= 0x5A ? 0x20 : 0))
            guard Self.schemes.contains(where: { $0.starts(with: scheme) }) else {
                throw HTTPParseError.bad("unsupported request target form")
            }
            if Self.schemes.contains(scheme) { state = .target }
        case .target:
            if b == UInt8(ascii: " ") {
                state = .version(0)
            } else if !(b > 0x20 && b < 0x7F) {
                throw HTTPParseError.bad("invalid request target")
            }
        case .version(let index):
            let fits: Bool
            switch index {
            case 0..<5: fits = b == Self.versionPrefix[index]
            case 5, 7: fits = b >= 0x30 && b <= 0x39
            case 6: fits = b == UInt8(ascii: ".")
            default: fits = b == UInt8(ascii: "\r")
            }
            guard fits else { throw HTTPParseError.bad("malformed HTTP version") }
            state = index == 8 ? .finalLF : .version(index + 1)
        case .finalLF:
            guard b == UInt8(ascii: "\n") else { throw HTTPParseError.bad("malformed request line") }
            state = .done
        case .done:
            break
        }
    }
}
