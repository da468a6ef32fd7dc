import Synchronization
import TollgateCore

/// Attempts at enrollment links per client address: a token bucket each, `burst` attempts at once and
/// one more every `refillSeconds` (see `key`). A person needs three (page, bundle, CA); a guesser gets a few a
/// minute against 256-bit tokens. Shared by every loop; the table is bounded, and when it is full the
/// longest-idle address is forgotten (its bucket was the fullest anyway).
public final class EnrollmentRateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var updatedNanos: UInt64
    }

    let burst: Double
    let refillSeconds: Int
    let refillNanos: Double
    let maxClients: Int
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(burst: Int = 10, refillSeconds: Int = 30, maxClients: Int = 4096) {
        self.burst = Double(burst)
        self.refillSeconds = refillSeconds
        refillNanos = Double(refillSeconds) * 1e9
        self.maxClients = maxClients
    }

    /// Whom attempts are counted against: an IPv4 address, or the /64 of an IPv6 one (one host or
    /// network usually holds a whole /64, and could otherwise use a fresh address for every attempt).
    public static func key(_ client: IPAddress?) -> String? {
        guard let client else { return nil }
        guard client.bytes.count == 16 else { return client.description }
        return IPAddress(bytes: Array(client.bytes.prefix(8)) + Array(repeating: 0, count: 8)).description + "/64"
    }

    /// Takes one attempt for `client`; false when it has none left.
    public func admit(_ client: String, nowNanos: UInt64) -> Bool {
        buckets.withLock { table in
            var bucket = table[client] ?? Bucket(tokens: burst, updatedNanos: nowNanos)
            let elapsed = nowNanos > bucket.updatedNanos ? Double(nowNanos - bucket.updatedNanos) : 0
            bucket.tokens = min(burst, bucket.tokens + elapsed / refillNanos)
            bucket.updatedNanos = nowNanos
            let admitted = bucket.tokens >= 1
            if admitted { bucket.tokens -= 1 }
            if table[client] == nil, table.count >= maxClients,
                let idlest = table.min(by: { $0.value.updatedNanos < $1.value.updatedNanos })?.key
            {
                table[idlest] = nil
            }
            table[client] = bucket
            return admitted
        }
    }
}
