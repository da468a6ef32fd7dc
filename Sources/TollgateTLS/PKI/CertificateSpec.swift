/// What a certificate should say. Pure values; `PKI` turns them into keys and certificates.
public struct CertificateSpec: Sendable, Equatable {
    public enum Usage: String, Sendable, CaseIterable {
        case serverAuth = "server auth"
        case clientAuth = "client auth"
        case digitalSignature = "digital signature"
        case
            keyEncipherment = "key encipherment"
        case certSign = "cert sign"
        case crlSign = "crl sign"
    }

    public var commonName: String
    public var isCA: Bool
    public var dnsNames: [String]
    public var ipAddresses: [String]
    public var uris: [String]
    public var emailAddresses: [String]
    public var usages: Set<Usage>
    public var validitySeconds: Int64
    public var key: KeyAlgorithm
    public var keyEncoding: KeyEncoding

    public init(
        commonName: String, isCA: Bool = false, dnsNames: [String] = [], ipAddresses: [String] = [],
        uris: [String] = [],
        emailAddresses: [String] = [], usages: Set<Usage> = [], validitySeconds: Int64 = 90 * 86_400,
        key: KeyAlgorithm = .ecdsa(curve: .p256), keyEncoding: KeyEncoding = .pkcs8
    ) {
        self.commonName = commonName
        self.isCA = isCA
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
        self.uris = uris
        self.emailAddresses = emailAddresses
        self.usages = usages
        self.validitySeconds = validitySeconds
        self.key = key
        self.keyEncoding = keyEncoding
    }
}

public enum KeyAlgorithm: Sendable, Equatable, CustomStringConvertible {
    public enum Curve: String, Sendable {
        case p256 = "P-256"
        case p384 = "P-384"
    }

    case rsa(bits: Int)
    case ecdsa(curve: Curve)

    /// `rsa2048`, `rsa3072`, `rsa4096`, `ec256`/`p256`, `ec384`/`p384`.
    public init?(name: String) {
        switch name.lowercased() {
        case "rsa", "rsa2048": self = .rsa(bits: 2048)
        case "rsa3072": self = .rsa(bits: 3072)
        case "rsa4096": self = .rsa(bits: 4096)
        case "ec", "ecdsa", "ec256", "p256", "ecdsa-p256": self = .ecdsa(curve: .p256)
        case "ec384", "p384", "ecdsa-p384": self = .ecdsa(curve: .p384)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .rsa(let bits): "RSA \(bits)"
        case .ecdsa(let curve): "ECDSA \(curve.rawValue)"
        }
    }
}

/// PEM form of a private key: PKCS#1 / SEC 1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`).
public enum KeyEncoding: String, Sendable {
    case pkcs1 = "PKCS1"
    case pkcs8 = "PKCS8"
}

/// A certificate and its key, PEM, as a credential folder holds them.
public struct IssuedCredential: Sendable {
    public var certificatePEM: [UInt8]
    public var privateKeyPEM: [UInt8]
    /// The issuing CA's certificate (the certificate itself when self-signed): `ca.crt`.
    public var caPEM: [UInt8]
    public var serialHex: String
    public var notAfter: Int64
}

/// A CA that can sign: its certificate and private key in PEM.
public struct CertificateAuthority: Sendable {
    public var certificatePEM: [UInt8]
    public var privateKeyPEM: [UInt8]

    public init(certificatePEM: [UInt8], privateKeyPEM: [UInt8]) {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }
}
