/// Why a step on a connection's transport failed: a reason from a closed set (the
/// `tollgate_tls_handshake_failures_total` label), decided where the failure is known, and the text a
/// person reads in the log. Plain-socket and PROXY-header failures are `.other`.
public struct TLSFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case noClientCertificate = "no_client_certificate"
        case certificateExpired = "certificate_expired"
        case certificateRevoked = "certificate_revoked"
        case unknownCA = "unknown_ca"
        case certificateUsage = "certificate_usage"
        case certificateNotAdmitted = "certificate_not_admitted"
        case unknownServerName = "unknown_server_name"
        case malformedClientHello = "malformed_client_hello"
        case other
    }

    public let reason: Reason
    public let description: String

    public init(_ description: String, reason: Reason = .other) {
        self.reason = reason
        self.description = description
    }
}
