import TollgateCore

/// What one TLS server block needs: its certificate, and how it treats client certificates.
public struct TLSServerSettings: Sendable {
    public enum ClientAuthentication: Sendable, Equatable {
        case none
        /// Requested; validated if presented (OPTIONAL_MUTUAL).
        case optional
        /// Required (MUTUAL).
        case required
    }

    public enum ProtocolVersion: Sendable, Comparable {
        case tls12, tls13
    }

    public var certificateChainPEM: [UInt8]
    public var privateKeyPEM: [UInt8]
    public var clientCAPEM: [UInt8]?
    public var crlPEM: [UInt8]?
    public var clientAuthentication: ClientAuthentication
    public var minVersion: ProtocolVersion
    public var maxVersion: ProtocolVersion
    /// OpenSSL names of TLS 1.2 cipher suites; empty means Tollgate's ECDHE+AEAD default.
    public var cipherSuites: [String]
    /// Complete the handshake even without a valid client certificate, so the HTTP layer can explain
    /// the problem. The verification result is still recorded and such a client is never identified.
    public var explainFailures = false
    /// MUTUAL, but a client that presents no certificate at all completes the handshake (unidentified), so
    /// the enrollment path can be served to a device that has none yet; the HTTP layer refuses it every
    /// other path. A presented certificate that fails verification still fails the handshake.
    public var admitsClientsWithoutCertificate = false
    /// ALPN offers `h2` (then `http/1.1`); off, only `http/1.1` (`serve --no-http2`). Not part of how clients
    /// are verified, so it takes no part in `verifiesClientsLike` or the resumption domain.
    public var offersHTTP2 = true
    /// The client certificate must carry one of these SANs (exact match, any type): Istio `subjectAltNames`.
    public var subjectAltNames: [String] = []
    /// Base64 SHA-256 of the client's SubjectPublicKeyInfo, or hex SHA-256 of its certificate; any one
    /// matching admits it (Istio `verifyCertificateSpki` / `verifyCertificateHash`).
    public var spkiPins: [String] = []
    public var certificateHashes: [String] = []

    public init(
        certificateChainPEM: [UInt8], privateKeyPEM: [UInt8], clientCAPEM: [UInt8]? = nil, crlPEM: [UInt8]? = nil,
        clientAuthentication: ClientAuthentication = .none, minVersion: ProtocolVersion = .tls12,
        maxVersion: ProtocolVersion = .tls13, cipherSuites: [String] = [], explainFailures: Bool = false
    ) {
        self.certificateChainPEM = certificateChainPEM
        self.privateKeyPEM = privateKeyPEM
        self.clientCAPEM = clientCAPEM
        self.crlPEM = crlPEM
        self.clientAuthentication = clientAuthentication
        self.minVersion = minVersion
        self.maxVersion = maxVersion
        self.cipherSuites = cipherSuites
        self.explainFailures = explainFailures
    }

    /// Whether a connection verified under `other` was verified exactly as these settings would verify it
    /// (the server certificate itself may differ: a renewal does not concern connections already open).
    public func verifiesClientsLike(_ other: TLSServerSettings) -> Bool {
        clientAuthentication == other.clientAuthentication && clientCAPEM == other.clientCAPEM && crlPEM == other.crlPEM
            && subjectAltNames == other.subjectAltNames && spkiPins == other.spkiPins
            && certificateHashes == other.certificateHashes
            && explainFailures == other.explainFailures
            && admitsClientsWithoutCertificate == other.admitsClientsWithoutCertificate
            && minVersion == other.minVersion
            && maxVersion == other.maxVersion
            && cipherSuites == other.cipherSuites
    }

    /// Everything that decides whether a client is admitted, as one canonical byte string: two blocks
    /// (or two configurations) with the same fingerprint verify clients identically, so a session of
    /// one is as good as a full handshake on the other. Anything else must never resume there.
    var trustFingerprint: [UInt8] {
        var bytes = Array("tollgate-trust-v1".utf8)
        func field(_ value: [UInt8]) {
            let count = UInt32(value.count)
            bytes += [UInt8(count >> 24), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
            bytes += value
        }
        let mode: String =
            switch clientAuthentication {
            case .none: "none"
            case .optional: "optional"
            case .required: "required"
            }
        field(Array(mode.utf8))
        field(clientCAPEM ?? [])
        field(crlPEM ?? [])
        for list in [subjectAltNames, spkiPins, certificateHashes] {
            field(Array(list.sorted().joined(separator: "\n").utf8))
        }
        field(explainFailures ? [1] : [0])
        // Sessions of a block that lets certificate-less clients in never resume on one that does not.
        field(admitsClientsWithoutCertificate ? [1] : [0])
        return bytes
    }

    /// Whether the two verify clients alike except for their revocation lists: a connection verified under
    /// one can then be checked against the other's CRL alone (`TLSConnection.clientStillPasses`).
    public func differsOnlyInRevocation(from other: TLSServerSettings) -> Bool {
        var same = other
        same.crlPEM = crlPEM
        return verifiesClientsLike(same)
    }

    /// ECDHE key exchange with AEAD ciphers only, for TLS 1.2; TLS 1.3 suites are all AEAD.
    public static let defaultCipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ]
}
