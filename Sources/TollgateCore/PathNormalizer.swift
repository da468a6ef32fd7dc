/// Istio's default (`BASE`) path normalization, applied before authorization and routing and sent
/// upstream: decode unreserved percent-escapes once, turn `\` into `/`, remove dot segments
/// (RFC 3986 §5.2.4). `%2F` and `%5C` stay encoded; `//` is kept; `%00` is rejected.
public enum PathNormalizer {
    public struct Rejected: Error, Equatable {
        public let reason: String
    }

    public static func normalize(_ path: String) throws(Rejected) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(path.utf8.count)
        let input = Array(path.utf8)
        var i = 0
        while i < input.count {
            let b = input[i]
            if b == UInt8(ascii: "%"), i + 2 < input.count, let hi = hex(input[i + 1]), let lo = hex(input[i + 2]) {
                let decoded = hi << 4 | lo
                if decoded == 0 { throw Rejected(reason: "encoded NUL in path") }
                if isUnreserved(decoded) {
                    bytes.append(decoded)
                } else {
                    bytes += [b, upper(input[i + 1]), upper(input[i + 2])]
                }
                i += 3
                continue
            }
            bytes.append(b == UInt8(ascii: "\\") ? UInt8(ascii: "/") : b)
            i += 1
        }
        return removeDotSegments(String(decoding: bytes, as: UTF8.self))
    }

    static func removeDotSegments(_ path: String) -> String {
        guard path.contains(".") else { return path }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var output: [Substring] = []
        for (index, segment) in segments.enumerated() {
            let isLast = index == segments.count - 1
            if segment == "." {
                if isLast { output.append("") }
            } else if segment == ".." {
                if output.count > 1 { output.removeLast() }
                if isLast { output.append("") }
            } else {
                output.append(segment)
            }
        }
        let joined = output.joined(separator: "/")
        return joined.hasPrefix("/") ? joined : "/" + joined
    }

    private static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
            || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
    }

    private static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: b - 0x30
        case 0x41...0x46: b - 0x41 + 10
        case 0x61...0x66: b - 0x61 + 10
        default: nil
        }
    }

    private static func upper(_ b: UInt8) -> UInt8 { (b >= 0x61 && b <= 0x66) ? b - 0x20 : b }
}
