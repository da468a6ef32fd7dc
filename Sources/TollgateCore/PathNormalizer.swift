/// Istio's default (`BASE`) path normalization, applied before authorization and routing and sent
/// upstream: decode unreserved percent-escapes once, turn `\` into `/`, remove dot segments
/// (RFC 3986 §5.2.4). `%2F` and `%5C` stay encoded; `//` is kept; `%00` and a `%` not followed by two hex
/// digits are rejected. Normalizing twice gives what normalizing once gave.
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
            if b == UInt8(ascii: "%") {
                // A `%` that starts no escape would let this pass make one (`%%32%65` → `%2e`) that the
                // upstream decodes into a segment the policy never saw; nginx answers 400 as well.
                guard i + 2 < input.count, let hi = Hex.value(input[i + 1]), let lo = Hex.value(input[i + 2]) else {
                    throw Rejected(reason: "invalid percent-encoding in path")
                }
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
        return String(decoding: removeDotSegments(bytes), as: UTF8.self)
    }

    /// Works on bytes, as the upstream will: split on Swift Characters, a combining mark after `/` would
    /// hide that separator (the mark and the slash are one grapheme).
    static func removeDotSegments(_ path: [UInt8]) -> [UInt8] {
        let slash = UInt8(ascii: "/")
        let dot = UInt8(ascii: ".")
        guard path.contains(dot) else { return path }
        let segments = path.split(separator: slash, omittingEmptySubsequences: false)
        var output: [ArraySlice<UInt8>] = []
        for (index, segment) in segments.enumerated() {
            let isLast = index == segments.count - 1
            if segment.elementsEqual([dot]) {
                if isLast { output.append([]) }
            } else if segment.elementsEqual([dot, dot]) {
                if output.count > 1 { output.removeLast() }
                if isLast { output.append([]) }
            } else {
                output.append(segment)
            }
        }
        let joined = Array(output.joined(separator: [slash]))
        return joined.first == slash ? joined : [slash] + joined
    }

    private static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
            || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
    }

    private static func upper(_ b: UInt8) -> UInt8 { (b >= 0x61 && b <= 0x66) ? b - 0x20 : b }
}
