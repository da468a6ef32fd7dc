/// Percent-encoding (RFC 3986 §2.1, upper-case hex), byte by byte over UTF-8: the one encoder behind XFCC's
/// `Cert`, escaped certificate names, unsafe request-target bytes and contact links.
public enum PercentEncoding {
    /// `bytes` with every byte `escaping` selects written as `%XX`.
    public static func encode(_ bytes: some Sequence<UInt8>, escaping: (UInt8) -> Bool) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in bytes {
            if escaping(b) { out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]] } else { out.append(b) }
        }
        return out
    }

    /// Everything but RFC 3986 unreserved characters escaped.
    public static func allButUnreserved(_ text: String) -> String {
        String(decoding: encode(text.utf8, escaping: { !isUnreserved($0) }), as: UTF8.self)
    }

    public static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
            || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
    }
}
