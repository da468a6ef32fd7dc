/// Envoy's response flags (`%RESPONSE_FLAGS%` in the access log, `response_flags` on `istio_requests_total`):
/// why a response is not simply the upstream's. The bits follow Envoy's `ResponseFlag` enum, so the text
/// lists them in Envoy's order, comma-separated, and `-` when there are none. Only the flags Tollgate sets.
struct ResponseFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    let rawValue: UInt32

    /// `UH`: the cluster has no endpoint.
    static let noHealthyUpstream = ResponseFlags(rawValue: 1 << 1)
    /// `UT`: the route timeout passed before the upstream answered.
    static let upstreamRequestTimeout = ResponseFlags(rawValue: 1 << 2)
    /// `UF`: connecting to the upstream failed.
    static let upstreamConnectionFailure = ResponseFlags(rawValue: 1 << 5)
    /// `UC`: the upstream closed the connection.
    static let upstreamConnectionTermination = ResponseFlags(rawValue: 1 << 6)
    /// `UO`: no connection slot was free for an HTTP/2 stream's upstream connection (`--max-connections`).
    static let upstreamOverflow = ResponseFlags(rawValue: 1 << 7)
    /// `NR`: no route matched, or the port has no listener.
    static let noRouteFound = ResponseFlags(rawValue: 1 << 8)
    /// `DC`: the client closed its connection before the request was complete.
    static let downstreamConnectionTermination = ResponseFlags(rawValue: 1 << 14)
    /// `URX`: the retries allowed were used up.
    static let upstreamRetryLimitExceeded = ResponseFlags(rawValue: 1 << 15)
    /// `SI`: neither side sent anything within the stream idle timeout.
    static let streamIdleTimeout = ResponseFlags(rawValue: 1 << 16)
    /// `DPE`: the request was malformed.
    static let downstreamProtocolError = ResponseFlags(rawValue: 1 << 18)
    /// `UPE`: the upstream's response was malformed.
    static let upstreamProtocolError = ResponseFlags(rawValue: 1 << 23)
    /// `NC`: the destination names no known cluster.
    static let noClusterFound = ResponseFlags(rawValue: 1 << 24)
    /// `DR`: the client reset its HTTP/2 stream (or its connection ended) before the response was complete.
    static let downstreamRemoteReset = ResponseFlags(rawValue: 1 << 28)

    private static let codes: [(ResponseFlags, String)] = [
        (.noHealthyUpstream, "UH"), (.upstreamRequestTimeout, "UT"), (.upstreamConnectionFailure, "UF"),
        (.upstreamConnectionTermination, "UC"), (.upstreamOverflow, "UO"), (.noRouteFound, "NR"),
        (.downstreamConnectionTermination, "DC"),
        (.upstreamRetryLimitExceeded, "URX"), (.streamIdleTimeout, "SI"), (.downstreamProtocolError, "DPE"),
        (.upstreamProtocolError, "UPE"), (.noClusterFound, "NC"), (.downstreamRemoteReset, "DR"),
    ]

    var description: String {
        if isEmpty { return "-" }
        var codes: [String] = []
        forEachCode { codes.append($0) }
        return codes.joined(separator: ",")
    }

    /// Calls `body` with the code of each flag set, in Envoy's order (the access log writes them without
    /// building `description` per request).
    func forEachCode(_ body: (String) -> Void) {
        for (flag, code) in Self.codes where contains(flag) { body(code) }
    }
}
