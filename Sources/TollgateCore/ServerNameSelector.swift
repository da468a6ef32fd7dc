/// Chooses among the TLS server blocks of one port by host name, as Envoy chooses a filter chain by
/// SNI: an exact host first, then the longest `*.suffix`, then `*`. One rule serves both the TLS
/// handshake (SNI) and each request (Host or `:authority`), so a request can be held to the block
/// its connection was verified by.
public struct ServerNameSelector: Sendable, Equatable {
    /// Lower-cased host patterns (`name`, `*.suffix`, `*`) of each block, in configuration order.
    public let blocks: [[String]]

    public init(blocks: [[String]]) {
        self.blocks = blocks.map { $0.map { $0.lowercased() } }
    }

    /// The block for `name`; without a name (no SNI, no Host) the first block. nil when no block lists it.
    public func block(for name: String?) -> Int? {
        guard let name = name?.lowercased(), !name.isEmpty else { return blocks.isEmpty ? nil : 0 }
        if let exact = blocks.firstIndex(where: { $0.contains(name) }) { return exact }
        var best: (index: Int, length: Int)?
        for (index, patterns) in blocks.enumerated() {
            for pattern in patterns where pattern.hasPrefix("*.") {
                let suffix = pattern.dropFirst(1)
                if name.count > suffix.count && name.hasSuffix(suffix) && suffix.count > (best?.length ?? -1) {
                    best = (index, suffix.count)
                }
            }
        }
        if let best { return best.index }
        return blocks.firstIndex { $0.contains("*") }
    }

    /// Whether a request for `host` may be served on a connection that the handshake put on `block`:
    /// only when the same choice, made for the host, lands on that very block. A port with one block
    /// has nothing to confuse.
    public func admits(host: String, onBlock block: Int) -> Bool {
        blocks.count <= 1 || self.block(for: host) == block
    }
}
