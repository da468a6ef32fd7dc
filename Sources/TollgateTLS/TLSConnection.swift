internal import COpenSSL
import TollgateCore

/// The outcome of one non-blocking TLS step.
public enum TLSIOResult: Equatable {
    case done(Int)
    case wantRead
    case wantWrite
    /// The peer sent close_notify or closed the socket.
    case closed
    case failed(TLSFailure)
}

/// One server-side TLS session over a non-blocking socket (OpenSSL socket BIO: no extra copy).
/// Owned and used only by the event loop queue that owns the connection; not thread-safe.
public final class TLSConnection {
    private let ssl: OpaquePointer
    public let group: TLSServerGroup
    public private(set) var isHandshakeComplete = false

    /// The block the first ClientHello selected and the (validated, lower-cased) SNI that selected it.
    var selection: (block: Int, serverName: String?)?
    /// Why the client-hello callback refused the handshake.
    var rejection: TLSFailure?

    public init(group: TLSServerGroup, fileDescriptor: Int32) throws {
        guard let ssl = SSL_new(group.portContext) else { throw TLSError("cannot create SSL") }
        self.ssl = ssl
        self.group = group
        SSL_set_fd(ssl, fileDescriptor)
        SSL_set_accept_state(ssl)
        // The client-hello callback finds this connection here; the connection outlives its SSL.
        SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
    }

    /// `SSL_MODE_*` flags and read-ahead in force on this connection (for tests).
    var mode: (flags: UInt64, readAhead: Bool) {
        (UInt64(SSL_ctrl(ssl, SSL_CTRL_MODE, 0, nil)), SSL_get_read_ahead(ssl) == 1)
    }

    static func owner(of ssl: OpaquePointer) -> TLSConnection? {
        SSL_get_ex_data(ssl, 0).map { Unmanaged<TLSConnection>.fromOpaque($0).takeUnretainedValue() }
    }

    deinit { SSL_free(ssl) }

    public func handshake() -> TLSIOResult {
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            isHandshakeComplete = true
            if SSL_get_verify_result(ssl) == X509_V_OK { tg_release_unused_peer_chain(ssl) }
            if let block = TLSServerContext.owner(of: ssl), !block.admitsResumption(of: ssl) {
                group.forgetSession(of: ssl)
            }
            return .done(0)
        }
        return classify(rc, during: "handshake")
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> TLSIOResult {
        ERR_clear_error()
        let rc = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
        return rc > 0 ? .done(Int(rc)) : classify(rc, during: "read")
    }

    public func write(_ buffer: UnsafeRawBufferPointer) -> TLSIOResult {
        guard buffer.count > 0 else { return .done(0) }
        ERR_clear_error()
        let rc = SSL_write(ssl, buffer.baseAddress, Int32(buffer.count))
        return rc > 0 ? .done(Int(rc)) : classify(rc, during: "write")
    }

    /// Bytes already decrypted and waiting inside OpenSSL: the socket may be drained while these remain.
    public var pendingBytes: Int { Int(SSL_pending(ssl)) }

    /// Sends close_notify once; does not wait for the peer's.
    public func shutdown() {
        ERR_clear_error()
        if isHandshakeComplete { _ = SSL_shutdown(ssl) }
        ERR_clear_error()
    }

    private func classify(_ rc: Int32, during operation: String) -> TLSIOResult {
        let error = SSL_get_error(ssl, rc)
        switch error {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN:
            ERR_clear_error()
            return .closed
        case SSL_ERROR_SYSCALL:
            let queued = TLSError.drainErrorQueueWithReasons()
            guard !queued.isEmpty else { return .closed }
            return .failed(
                TLSFailure(
                    "\(operation): \(queued.map(\.text).joined(separator: "; "))",
                    reason: queued.lazy.compactMap { Self.reason(alert: $0.reason) }.first ?? .other))
        default:
            return .failed(failure(operation))
        }
    }

    /// A reason a person can act on: the certificate verification result when there is one.
    private func failure(_ operation: String) -> TLSFailure {
        let verify = Int32(SSL_get_verify_result(ssl))
        let queued = TLSError.drainErrorQueueWithReasons()
        if let rejection { return rejection }
        if verify != X509_V_OK {
            let text = String(cString: X509_verify_cert_error_string(Int(verify)))
            return TLSFailure("client certificate rejected: \(text)", reason: Self.reason(verifyResult: verify))
        }
        if queued.contains(where: { $0.reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE }) {
            return TLSFailure("client certificate required but none was presented", reason: .noClientCertificate)
        }
        let text = queued.map(\.text)
        return TLSFailure(
            "\(operation) failed: \(text.isEmpty ? "unknown error" : text.joined(separator: "; "))",
            reason: queued.lazy.compactMap { Self.reason(alert: $0.reason) }.first ?? .other)
    }

    /// The class of a client certificate that failed verification.
    static func reason(verifyResult: Int32) -> TLSFailure.Reason {
        switch verifyResult {
        case X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CRL_HAS_EXPIRED: .certificateExpired
        case X509_V_ERR_CERT_REVOKED: .certificateRevoked
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
            X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            .unknownCA
        case X509_V_ERR_INVALID_PURPOSE: .certificateUsage
        case X509_V_ERR_APPLICATION_VERIFICATION: .certificateNotAdmitted
        default: .other
        }
    }

    /// The class of an alert the client sent (its OpenSSL reason code), when it names one.
    static func reason(alert: Int32) -> TLSFailure.Reason? {
        switch alert {
        case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED: .certificateExpired
        case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED: .certificateRevoked
        case SSL_R_TLSV1_UNRECOGNIZED_NAME: .unknownServerName
        default: nil
        }
    }

    /// The SNI that selected this connection's block (validated: printable ASCII, lower-cased). Not
    /// `SSL_get_servername`, which on a resumed TLS 1.2 session answers the name the session was made with.
    public var serverName: String? { selection?.serverName }

    /// The settings this connection's handshake was verified with.
    public var verificationSettings: TLSServerSettings { group.entries[serverIndex].context.settings }

    /// Index into `group.entries` of the server block the ClientHello selected (meaningful once the
    /// handshake is complete: a connection that no block took over never completes it).
    public var serverIndex: Int { selection?.block ?? 0 }

    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }
    public var cipher: String { SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? "" }
    public var sessionReused: Bool { SSL_session_reused(ssl) == 1 }
    /// The application protocol ALPN chose: `h2`, `http/1.1`, or nil when the client offered none.
    public var negotiatedProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// Whether the client certificate this connection was verified with passes `context`'s verification
    /// now — its CA store, CRLs and pins — so a reload that only changed a CRL need not end the
    /// connections of devices it did not revoke. A client without a verified certificate never passes.
    public func clientStillPasses(_ context: TLSServerContext) -> Bool {
        guard let cert = verifiedPeerCertificate, let store = SSL_CTX_get_cert_store(context.context),
            let verification = X509_STORE_CTX_new()
        else { return false }
        defer { X509_STORE_CTX_free(verification) }
        guard X509_STORE_CTX_init(verification, store, cert, SSL_get_peer_cert_chain(ssl)) == 1 else { return false }
        X509_STORE_CTX_set_purpose(verification, X509_PURPOSE_SSL_CLIENT)
        X509_STORE_CTX_set_depth(verification, 8)
        let passes = X509_verify_cert(verification) == 1 && context.pinsAccept(cert)
        ERR_clear_error()
        return passes
    }

    /// A client without a certificate on a block that requires one, whose handshake finished only because
    /// it chose h2 (`ALPN.deferMissingCertificateRefusalToHTTP11`): its streams are answered HTTP_1_1_REQUIRED and nothing else.
    public var refusalDeferredToHTTP11: Bool {
        clientCertificateProblem != nil && ALPN.refusalDeferred(ssl, group.entries[serverIndex].context.settings)
    }

    /// Why the client has no verified identity on a server that asks for certificates (explain mode, or an
    /// h2 refusal deferred to HTTP/1.1: otherwise such a handshake fails). nil when the certificate verified
    /// or none was requested.
    public var clientCertificateProblem: ClientCertificateProblem? {
        let settings = group.entries[serverIndex].context.settings
        guard settings.clientAuthentication != .none else { return nil }
        guard let cert = SSL_get0_peer_certificate(ssl) else {
            return settings.clientAuthentication == .required ? .missing : nil
        }
        let result = Int32(SSL_get_verify_result(ssl))
        guard result != X509_V_OK else { return nil }
        let summary = CertificateSummary(cert)
        let text = String(cString: X509_verify_cert_error_string(Int(result)))
        switch result {
        case X509_V_ERR_CERT_HAS_EXPIRED: return .expired(summary)
        case X509_V_ERR_CERT_NOT_YET_VALID: return .notYetValid(summary)
        case X509_V_ERR_CERT_REVOKED: return .revoked(summary)
        case X509_V_ERR_APPLICATION_VERIFICATION:
            return .invalid(summary, "it is not one of the certificates this site admits")
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
            X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
            X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, X509_V_ERR_CERT_SIGNATURE_FAILURE,
            X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            return .untrustedIssuer(summary)
        default: return .invalid(summary, text)
        }
    }

    /// The verified client certificate as Tollgate sees it, or `.anonymous` when none was presented.
    /// Without `leafPEM`: that is `peerCertificatePEM`, read when the XFCC element is built.
    public func peerIdentity() -> PeerIdentity {
        verifiedPeerCertificate.map { PeerIdentity(verifiedCertificate: $0, includingPEM: false) } ?? .anonymous
    }

    /// PEM of the verified client certificate, "" without one.
    public func peerCertificatePEM() -> String {
        verifiedPeerCertificate.map(pemEncoded) ?? ""
    }

    /// The client's certificate when it passed verification, else nil.
    private var verifiedPeerCertificate: OpaquePointer? {
        guard SSL_get_verify_result(ssl) == X509_V_OK else { return nil }
        return SSL_get0_peer_certificate(ssl)
    }
}

func sha256Hex(_ cert: OpaquePointer) -> String {
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    guard X509_digest(cert, EVP_sha256(), &digest, &length) == 1 else { return "" }
    return Hex.lowercase(digest.prefix(Int(length)))
}

/// What is wrong with the client's certificate, for the explain page.
public enum ClientCertificateProblem: Sendable, Equatable {
    case missing
    case untrustedIssuer(CertificateSummary)
    case expired(CertificateSummary)
    case notYetValid(CertificateSummary)
    case revoked(CertificateSummary)
    case invalid(CertificateSummary, String)

    public var summary: CertificateSummary? {
        switch self {
        case .missing: nil
        case .untrustedIssuer(let s), .expired(let s), .notYetValid(let s), .revoked(let s), .invalid(let s, _): s
        }
    }
}
