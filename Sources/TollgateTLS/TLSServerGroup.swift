internal import COpenSSL

/// The TLS server blocks that share one listening port, chosen per connection by SNI.
/// Immutable once built; a reload builds a new group. Connections keep their group alive.
public final class TLSServerGroup: @unchecked Sendable {
    public struct Entry: Sendable {
        /// Lower-cased host patterns (`name`, `*.suffix`, `*`) as the Gateway server lists them.
        public var hosts: [String]
        public var context: TLSServerContext

        public init(hosts: [String], context: TLSServerContext) {
            self.hosts = hosts
            self.context = context
        }
    }

    public let entries: [Entry]

    public init(_ entries: [Entry]) {
        precondition(!entries.isEmpty, "a TLS group needs at least one server")
        self.entries = entries
        let me = Unmanaged.passUnretained(self).toOpaque()
        for entry in entries {
            tg_SSL_CTX_set_servername_callback(entry.context.context, selectServerByName, me)
        }
    }

    /// The entry for an SNI name: exact host first, then the longest `*.suffix`, then `*`.
    /// Without SNI the first server answers; an SNI that no server lists is refused, as Envoy does.
    public func entryIndex(serverName: String?) -> Int? {
        guard let name = serverName?.lowercased(), !name.isEmpty else { return 0 }
        if let exact = entries.firstIndex(where: { $0.hosts.contains(name) }) { return exact }
        var best: (index: Int, length: Int)?
        for (i, entry) in entries.enumerated() {
            for pattern in entry.hosts where pattern.hasPrefix("*.") {
                let suffix = pattern.dropFirst(1)
                if name.count > suffix.count && name.hasSuffix(suffix) && suffix.count > (best?.length ?? -1) {
                    best = (i, suffix.count)
                }
            }
        }
        if let best { return best.index }
        return entries.firstIndex { $0.hosts.contains("*") }
    }

    func index(of context: OpaquePointer?) -> Int {
        entries.firstIndex { $0.context.context == context } ?? 0
    }
}

/// OpenSSL's servername callback: switches the connection to the chosen server's SSL_CTX,
/// including its client-verification mode, before the certificate is sent.
private let selectServerByName: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 = {
    ssl, alert, arg in
    guard let ssl, let arg else { return SSL_TLSEXT_ERR_NOACK }
    let group = Unmanaged<TLSServerGroup>.fromOpaque(arg).takeUnretainedValue()
    let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
    guard let index = group.entryIndex(serverName: name) else {
        alert?.pointee = SSL_AD_UNRECOGNIZED_NAME
        return SSL_TLSEXT_ERR_ALERT_FATAL
    }
    let chosen = group.entries[index].context.context
    if SSL_get_SSL_CTX(ssl) != chosen {
        SSL_set_SSL_CTX(ssl, chosen)
        SSL_set_verify(ssl, SSL_CTX_get_verify_mode(chosen), nil)
        SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(chosen))
        SSL_set_options(ssl, SSL_CTX_get_options(chosen))
    }
    return SSL_TLSEXT_ERR_OK
}
