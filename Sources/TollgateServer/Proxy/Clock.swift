import TollgateCore

#if canImport(Glibc)
    import Glibc
#endif

/// IMF-fixdate (RFC 9110 §5.6.7) for the `Date` header, and timestamps for logs.
enum Clock {
    static func nowNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Wall-clock seconds since 1970 (certificate validity is in these).
    static func epochSeconds() -> Int64 { Int64(time(nil)) }

    static func formatHTTPDate(_ now: time_t) -> String {
        var t = now
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    /// `2026-11-29T18:59:00.123Z`, as Envoy's `%START_TIME%`.
    static func isoTimestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return isoTimestamp(seconds: ts.tv_sec, milliseconds: Int(ts.tv_nsec / 1_000_000))
    }

    static func isoTimestamp(seconds: time_t, milliseconds ms: Int) -> String {
        var t = seconds
        var parts = tm()
        gmtime_r(&t, &parts)
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return
            "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(msText)Z"
    }

    private static func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }

    /// A random UUID (version 4) for `x-request-id`.
    static func uuid() -> String {
        let (high, low) = (RandomPool.shared.next(), RandomPool.shared.next())
        return String(unsafeUninitializedCapacity: 36) { out in
            var position = 0
            for index in 0..<16 {
                var byte = UInt8(truncatingIfNeeded: (index < 8 ? high : low) >> (8 * UInt64(index % 8)))
                if index == 6 { byte = byte & 0x0F | 0x40 }
                if index == 8 { byte = byte & 0x3F | 0x80 }
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    out[position] = UInt8(ascii: "-")
                    position += 1
                }
                out[position] = Hex.digit(byte >> 4)
                out[position + 1] = Hex.digit(byte & 15)
                position += 2
            }
            return position
        }
    }
}
