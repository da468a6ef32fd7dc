/// Bounds on what a peer may send; defaults follow Envoy's (60 KiB of headers, 100 header fields).
public struct HTTPLimits: Sendable, Equatable {
    public var maxHeaderBytes: Int
    public var maxHeaderCount: Int
    /// Longest chunk-size line including extensions.
    public var maxChunkLineBytes: Int

    public init(maxHeaderBytes: Int = 60 * 1024, maxHeaderCount: Int = 100, maxChunkLineBytes: Int = 4096) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxChunkLineBytes = maxChunkLineBytes
    }
}

/// Why a message was rejected, with the status a server answers (400, 431, 501, 505).
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let reason: String

    public init(status: Int = 400, _ reason: String) {
        self.status = status
        self.reason = reason
    }

    public var description: String { "\(status): \(reason)" }

    static func bad(_ reason: String) -> HTTPParseError { HTTPParseError(status: 400, reason) }
}
