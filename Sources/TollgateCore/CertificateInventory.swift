/// What a CA issued, as `tollgate certs` records it beside the CA (one record per certificate), and
/// what each record's state is at a given time. Pure: the CLI reads and writes the files.
public struct IssuedCertificateRecord: Codable, Sendable, Equatable {
    /// The credential folder it was written to (`jinsu-macbook-tls`).
    public var name: String
    /// `client` or `server`.
    public var kind: String
    public var principal: String?
    public var serial: String
    /// Hex SHA-256 of the certificate's DER, as the gateway sees it (`PeerIdentity.leafSHA256`).
    public var sha256: String
    public var key: String
    public var notBefore: Int64
    public var notAfter: Int64
    public var issuedAt: Int64

    public init(
        name: String, kind: String, principal: String?, serial: String, sha256: String, key: String, notBefore: Int64,
        notAfter: Int64, issuedAt: Int64
    ) {
        self.name = name
        self.kind = kind
        self.principal = principal
        self.serial = serial
        self.sha256 = sha256
        self.key = key
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.issuedAt = issuedAt
    }
}

public enum CertificateStatus: String, Codable, Sendable {
    case valid
    /// Valid, but for less than `CertificateInventory.expiringWithin`.
    case expiring
    case expired
    case revoked
    /// A newer certificate was issued for the same credential folder (a renewal).
    case replaced
}

public struct InventoryEntry: Codable, Sendable, Equatable {
    public var certificate: IssuedCertificateRecord
    public var status: CertificateStatus
    /// When a gateway last completed a handshake with it (seconds since 1970), if it ever did.
    public var lastSeen: Int64?
}

public enum CertificateInventory {
    public static let expiringWithin: Int64 = 30 * 86_400

    /// Every issued certificate with its state at `now`, newest first within a name, names in order.
    /// Revocation beats everything; a renewal makes the older certificates of a folder `replaced`.
    public static func entries(
        _ records: [IssuedCertificateRecord], revokedSerials: Set<String>, lastSeen: [String: Int64],
        now: Int64
    ) -> [InventoryEntry] {
        let revoked = Set(revokedSerials.map { $0.uppercased() })
        var newestIssue: [String: Int] = [:]
        for (index, record) in records.enumerated() { newestIssue[record.name] = index }
        let entries = records.enumerated().map { index, record -> InventoryEntry in
            let status: CertificateStatus
            if revoked.contains(record.serial.uppercased()) {
                status = .revoked
            } else if newestIssue[record.name] != index {
                status = .replaced
            } else if record.notAfter <= now {
                status = .expired
            } else if record.notAfter - now < expiringWithin {
                status = .expiring
            } else {
                status = .valid
            }
            return InventoryEntry(certificate: record, status: status, lastSeen: lastSeen[record.sha256])
        }
        return entries.enumerated().sorted { a, b in
            a.element.certificate.name != b.element.certificate.name
                ? a.element.certificate.name < b.element.certificate.name
                : a.offset > b.offset
        }.map(\.element)
    }
}
