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

    public init(
        verified: Bool, subjectAltNames: [GeneralName], subject: String, leafSHA256: String,
        leafPEM: String, notAfter: Int64? = nil, issuer: String = ""
    ) {
        self.verified = verified
        self.subjectAltNames = subjectAltNames
        self.subject = subject
        self.leafSHA256 = leafSHA256
        self.leafPEM = leafPEM
        self.notAfter = notAfter
        self.issuer = issuer
    }

    /// No certificate presented.
    public static let anonymous = PeerIdentity(
        verified: false, subjectAltNames: [], subject: "", leafSHA256: "", leafPEM: "")

    public var uris: [String] {
        subjectAltNames.compactMap { if case .uniformResourceIdentifier(let u) = $0 { u } else { nil } }
    }

    public var dnsNames: [String] {
        subjectAltNames.compactMap { if case .dnsName(let d) = $0 { d } else { nil } }
    }

    /// Istio's principal: the first `spiffe://` URI SAN with the scheme stripped. A name with a space, a
    /// control character or a non-ASCII byte is not an identity (a URI cannot hold one), whatever CA signed it;
    /// nor is the scheme alone.
    public var principal: String? {
        let scheme = "spiffe://"
        guard verified,
            let uri = uris.first(where: {
                $0.hasPrefix(scheme) && $0.utf8.count > scheme.utf8.count && Self.isIdentityName($0)
            })
        else { return nil }
        return String(uri.dropFirst(scheme.count))
    }

    /// The names a policy may match a principal against (Envoy: URI SANs, DNS SANs, then the subject),
    /// without any that carry bytes no identity has.
    public var matchableNames: [String] {
        uris.filter(Self.isIdentityName) + dnsNames.filter(Self.isIdentityName)
            + (subject.isEmpty || subject.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) ? [] : [subject])
    }

    /// Printable ASCII without spaces: what URIs and DNS names are made of.
    public static func isIdentityName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    /// The namespace in a SPIFFE path `td/ns/<ns>/sa/<sa>`, as Istio derives it.
    public var namespace: String? {
        guard let principal else { return nil }
        let parts = principal.split(separator: "/", omittingEmptySubsequences: false)
        guard let i = parts.firstIndex(of: "ns"), i + 1 < parts.count, !parts[i + 1].isEmpty else { return nil }
        return String(parts[i + 1])
    }
}
