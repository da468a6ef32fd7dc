#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// One line per request on standard output, in the shape of Istio's default access log, written through
/// `AsyncOutput` so a slow terminal or pipe never stalls an event loop.
public final class AccessLog: Sendable {
    public let enabled: Bool

    public init(enabled: Bool = true) { self.enabled = enabled }

    struct Entry {
        var method: String
        var path: String
        var protocolVersion: String
        var status: Int
        var flags: String
        var details: String
        var bytesReceived: Int
        var bytesSent: Int
        var durationMilliseconds: Int
        var forwardedFor: String
        var userAgent: String
        var requestID: String
        var authority: String
        var upstreamHost: String
        var routeName: String
        var peer: String
        var serverName: String
        var principal: String
    }

    func log(_ e: Entry) {
        guard enabled else { return }
        let line = "[\(Clock.isoTimestamp())] \"\(e.method) \(e.path) \(e.protocolVersion)\" \(e.status) \(e.flags) \(e.details) "
            + "\(e.bytesReceived) \(e.bytesSent) \(e.durationMilliseconds) \"\(e.forwardedFor)\" \"\(e.userAgent)\" \"\(e.requestID)\" "
            + "\"\(e.authority)\" \"\(e.upstreamHost)\" \(e.routeName) \(e.peer) \(e.serverName) principal=\(e.principal)\n"
        AsyncOutput.standardOutput.write(line)
    }
}
