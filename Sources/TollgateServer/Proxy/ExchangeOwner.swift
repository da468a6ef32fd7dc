import HTTP1
import TollgateConfig
import TollgateCore

/// What carries one exchange at a time: an HTTP/1.1 connection, or one stream of an HTTP/2 connection.
/// Carrying out a plan and the upstream attempts, retries and timeouts are written once, against this,
/// so an HTTP/2 stream skips nothing an HTTP/1.1 request goes through. Confined to the connection's loop.
protocol ExchangeOwner: UpstreamDelegate, Sendable {
    /// The client connection: its identity, TLS state, peer address, loop and runtime.
    var connection: DownstreamConnection { get }
    var exchange: Exchange? { get set }
    /// HTTP/1.1: whether the connection stays open after this exchange (an HTTP/2 stream ignores it).
    var keepAlive: Bool { get set }
    func respondLocally(
        status: Int, body: [UInt8]?, contentType: String?, extraHeaders: [(String, String)],
        headerOperations: HeaderOperations)
    /// Ends an exchange that cannot finish cleanly: the connection (HTTP/1.1) or the stream (HTTP/2).
    func abortExchange(reason: String)
    func requestMalformed(_ error: HTTPParseError)
    /// `100 Continue` to a client that waits for it before sending its body.
    func sendContinue()
}

extension ExchangeOwner {
    /// `respondLocally` with the usual defaults.
    func respond(
        status: Int, body: [UInt8]?, contentType: String? = nil, extraHeaders: [(String, String)] = [],
        headerOperations: HeaderOperations = HeaderOperations()
    ) {
        respondLocally(
            status: status, body: body, contentType: contentType, extraHeaders: extraHeaders,
            headerOperations: headerOperations)
    }
}
