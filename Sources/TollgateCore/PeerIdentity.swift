/// A subject alternative name, as X.509 models it (the subset Tollgate reads).
public enum GeneralName: Sendable, Equatable, Hashable {
    case dnsName(String)
    case uniformResourceIdentifier(String)
    case rfc822Name(String)
    case ipAddress([UInt8])
}

/// Who is on the other end of a TLS connection, computed once after the handshake.
/// `verified` is false when no certificate was presented; an unverifiable one never gets this far.
public struct PeerIdentity: Sendable, Equatable {
    public var verified: Bool
    public var subjectAltNames: [GeneralName]
    /// Subject DN in RFC 2253 form (`CN=jinsu-macbook`).
    public var subject: String
    /// Hex SHA-256 of the leaf certificate's DER.
    public var leafSHA256: String
    /// PEM of the leaf, for `x-forwarded-client-cert`.
    public var leafPEM: String
    /// Seconds since 1970 of notAfter.
    public var notAfter: Int64?
    public var issuer: String

    public init(verified: Bool, subjectAltNames: [GeneralName], subject: String, leafSHA256: String,
                leafPEM: String, notAfter: Int64? = nil, issuer: String = "") {
        self.verified = verified
        self.subjectAltNames = subjectAltNames
        self.subject = subject
        self.leafSHA256 = leafSHA256
        self.leafPEM = leafPEM
        self.notAfter = notAfter
        self.issuer = issuer
    }

    /// No certificate presented.
    public static let anonymous = PeerIdentity(verified: false, subjectAltNames: [], subject: "", leafSHA256: "", leafPEM: "")

    public var uris: [String] {
        subjectAltNames.compactMap { if case .uniformResourceIdentifier(let u) = $0 { u } else { nil } }
    }

    public var dnsNames: [String] {
        subjectAltNames.compactMap { if case .dnsName(let d) = $0 { d } else { nil } }
    }

    /// Istio's principal: the first `spiffe://` URI SAN with the scheme stripped.
    public var principal: String? {
        guard verified, let uri = uris.first(where: { $0.hasPrefix("spiffe://") }) else { return nil }
        return String(uri.dropFirst("spiffe://".count))
    }

    /// The namespace in a SPIFFE path `td/ns/<ns>/sa/<sa>`, as Istio derives it.
    public var namespace: String? {
        guard let principal else { return nil }
        let parts = principal.split(separator: "/", omittingEmptySubsequences: false)
        guard let i = parts.firstIndex(of: "ns"), i + 1 < parts.count, !parts[i + 1].isEmpty else { return nil }
        return String(parts[i + 1])
    }
}
