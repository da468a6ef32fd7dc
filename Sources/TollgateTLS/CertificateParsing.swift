internal import COpenSSL
import TollgateCore

// Entry points from DER bytes to what Tollgate reads off a certificate, without a handshake: the fuzz
// target feeds them arbitrary bytes, and tests build identities from certificates made by `openssl`.

extension X509Certificate {
    /// Exactly one DER certificate, or nil (trailing bytes included).
    static func parse(der: [UInt8]) -> X509Certificate? {
        der.withUnsafeBufferPointer { buffer -> X509Certificate? in
            var cursor = buffer.baseAddress
            defer { ERR_clear_error() }
            guard let cert = d2i_X509(nil, &cursor, buffer.count) else { return nil }
            let certificate = X509Certificate(taking: cert)
            guard let cursor, let base = buffer.baseAddress, cursor - base == buffer.count else { return nil }
            return certificate
        }
    }
}

extension CertificateSummary {
    /// Subject, SANs and validity of a DER certificate; nil when the bytes are not one certificate.
    public init?(der: [UInt8]) {
        guard let certificate = X509Certificate.parse(der: der) else { return nil }
        self.init(certificate.pointer)
    }
}

extension PeerIdentity {
    /// The identity a connection would carry had this DER certificate verified; nil when the bytes are
    /// not one certificate. Verification is not done here: that is the handshake's job.
    public init?(verifiedCertificateDER der: [UInt8]) {
        guard let certificate = X509Certificate.parse(der: der) else { return nil }
        self.init(verifiedCertificate: certificate.pointer)
    }

    /// `includingPEM: false` leaves `leafPEM` empty: a connection's identity lives as long as the
    /// connection, and the PEM (about 1 KiB) is only read to build the XFCC element, from the certificate
    /// the TLS session keeps anyway (`TLSConnection.peerCertificatePEM`).
    init(verifiedCertificate cert: OpaquePointer, includingPEM: Bool = true) {
        let summary = CertificateSummary(cert)
        self.init(
            verified: true, subjectAltNames: summary.subjectAltNames, subject: summary.subject,
            leafSHA256: sha256Hex(cert), leafPEM: includingPEM ? pemEncoded(cert) : "", notAfter: summary.notAfter,
            issuer: summary.issuer)
    }
}

func pemEncoded(_ cert: OpaquePointer) -> String {
    readMemoryBIO { _ = PEM_write_bio_X509($0, cert) }
}
