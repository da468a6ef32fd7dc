import TollgateConfig

/// What went wrong with an upstream attempt before its response started, in the words `retryOn` uses.
public enum RetryCause: Sendable, Hashable {
    /// Connecting failed or timed out (`connect-failure`).
    case connectFailure
    /// The upstream closed the connection or answered malformed bytes (`reset`).
    case reset
    /// The attempt outlived `perTryTimeout`.
    case perTryTimeout
}

/// A route's `retries`, compiled once with its route table: which causes and statuses are retried, and how
/// often. Follows Envoy's `retry_on` (x-envoy-retry-on): `5xx` covers resets and connect failures,
/// `gateway-error` covers connect failures and 502/503/504, `retriable-4xx` is 409, a number is that status.
public struct RetryPolicy: Sendable, Equatable {
    /// Retries after the first attempt.
    public var attempts: Int
    public var perTryTimeoutMilliseconds: Int?
    private var causes: Set<RetryCause> = []
    private var on5xx = false
    private var onGatewayError = false
    private var onRetriable4xx = false
    private var statuses: Set<Int> = []

    public init(_ retry: HTTPRetry) {
        attempts = retry.attempts
        perTryTimeoutMilliseconds = retry.perTryTimeoutMilliseconds
        let on = Set(retry.retryOn)
        on5xx = on.contains("5xx")
        onGatewayError = on.contains("gateway-error")
        onRetriable4xx = on.contains("retriable-4xx")
        let onReset = on.contains("reset")
        if on.contains("connect-failure") || on5xx || onGatewayError || onReset { causes.insert(.connectFailure) }
        if onReset || on5xx { causes.insert(.reset) }
        if on5xx || onGatewayError || onReset { causes.insert(.perTryTimeout) }
        statuses = Set(on.compactMap { policy in Int(policy).flatMap { String($0) == policy ? $0 : nil } })
    }

    /// Whether an attempt that failed for `cause` is retried (attempts left aside).
    public func retries(_ cause: RetryCause) -> Bool { causes.contains(cause) }

    /// Whether an attempt answered with `status` is retried (attempts left aside).
    public func retries(status: Int) -> Bool {
        (on5xx && status >= 500) || (onGatewayError && [502, 503, 504].contains(status))
            || (onRetriable4xx && status == 409) || statuses.contains(status)
    }
}
