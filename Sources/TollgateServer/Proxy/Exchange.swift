import HTTP1
import TollgateConfig
import TollgateCore
import TollgatePolicy
import TollgateRouting

/// One request/response pair on a downstream connection, from head to the last byte of the
/// response. Owned by the downstream connection, on its loop.
final class Exchange: @unchecked Sendable {
    let head: RequestHead
    let snapshot: ConfigSnapshot
    let startNanos: UInt64
    let requestID: String
    let normalizedPath: String
    /// The request body arrives chunked (or, on HTTP/2, without a length); it is re-framed chunked upstream.
    let requestBodyChunked: Bool
    let expectsContinue: Bool
    /// `100 Continue` was sent: a client that waited for it is now sending its body.
    var continueSent = false
    /// A WebSocket opening handshake: sent on a fresh upstream connection with its `Upgrade` kept, and an
    /// upstream `101` turns the connection into a `Tunnel`.
    var upgradesToWebSocket = false

    var routeName: String?
    var authorization: AuthorizationDecision?
    var status = 0
    var responseFlags: ResponseFlags = []
    var responseDetails = "-"
    var bytesReceived = 0
    var bytesSent = 0

    /// How far each side has got. The request and the response progress independently (an upstream may
    /// answer before the request body ends), and each only moves forward.
    enum State: Equatable {
        /// The request body is still arriving.
        case receiving(Response)
        /// The request has ended.
        case received(Response)

        enum Response: Comparable {
            case pending
            /// The response head was sent: the exchange can no longer be answered another way or retried.
            case started
            case complete
        }

        var response: Response {
            switch self {
            case .receiving(let response), .received(let response): response
            }
        }
    }

    private(set) var state = State.receiving(.pending)
    var requestComplete: Bool { if case .received = state { true } else { false } }
    var responseStarted: Bool { state.response >= .started }
    var responseComplete: Bool { state.response == .complete }
    /// Downstream response framing when the upstream's length is unknown.
    var responseChunked = false

    // Upstream side
    var plan: ForwardPlan?
    /// The chosen destination's host, for the request metrics (the whole destination is not kept: copying it
    /// retains each of its fields).
    var destinationHost: String?
    var cluster: UpstreamCluster?
    var upstream: UpstreamConnection?
    var upstreamHead: [UInt8] = []
    var upstreamHost = "-"
    var headerOperations = HeaderOperations()
    var attempts = 0
    var triedEndpoints: [SocketAddress] = []
    /// Body bytes sent so far, kept while small so a failed attempt can be replayed; nil once too big.
    var replay: [[UInt8]]? = []
    var replayBytes = 0
    var routeTimer: LoopTimer?
    var tryTimer: LoopTimer?

    static let replayLimit = 64 * 1024
    static let idempotentMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]

    init(
        head: RequestHead, snapshot: ConfigSnapshot, startNanos: UInt64, requestID: String, normalizedPath: String,
        requestBodyChunked: Bool? = nil
    ) {
        self.head = head
        self.snapshot = snapshot
        self.startNanos = startNanos
        self.requestID = requestID
        self.normalizedPath = normalizedPath
        self.requestBodyChunked = requestBodyChunked ?? (head.headers.lastToken("transfer-encoding") == "chunked")
        expectsContinue =
            head.headers["expect"]?.lowercased() == "100-continue"
            && (head.version == .http11 || head.version == .http2)
    }

    var isHead: Bool { head.method == "HEAD" }

    /// The request body's length as declared (the decoder left one canonical `content-length`); nil when chunked.
    var declaredBodyLength: UInt64? {
        requestBodyChunked ? nil : head.headers["content-length"].flatMap { UInt64($0) } ?? 0
    }

    func requestEnded() { state = .received(state.response) }
    func responseHeadSent() { advanceResponse(to: .started) }
    func responseEnded() { advanceResponse(to: .complete) }

    private func advanceResponse(to response: State.Response) {
        guard response > state.response else { return }
        state = requestComplete ? .received(response) : .receiving(response)
    }

    func recordForReplay(_ bytes: [UInt8]) {
        guard replay != nil else { return }
        replayBytes += bytes.count
        if replayBytes > Exchange.replayLimit { replay = nil } else { replay!.append(bytes) }
    }

    func cancelTimers() {
        routeTimer?.cancel()
        tryTimer?.cancel()
        routeTimer = nil
        tryTimer = nil
    }

    /// Whether an attempt that failed for `cause` may be tried again under the route's retry policy.
    func mayRetry(_ cause: RetryCause, reusedConnection: Bool = false) -> Bool {
        guard let plan, replay != nil, !responseStarted else { return false }
        // A pooled connection the upstream closed while idle: retried once more than the policy allows, but
        // only for idempotent methods, since the upstream may have seen the request before closing.
        if reusedConnection && attempts <= plan.retries.attempts + 1 && Self.idempotentMethods.contains(head.method) {
            return true
        }
        return attempts <= plan.retries.attempts && plan.retries.retries(cause)
    }

    func mayRetry(status: Int) -> Bool {
        guard let plan, replay != nil, requestComplete, attempts <= plan.retries.attempts else { return false }
        return plan.retries.retries(status: status)
    }
}
