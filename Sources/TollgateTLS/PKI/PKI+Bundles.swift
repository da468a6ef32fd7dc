internal import COpenSSL
import TollgateCore

extension PKI {
    /// A PKCS#12 bundle of a certificate, its key and its chain, for browsers and keychains.
    /// `legacy` uses PBE-SHA1-3DES with a SHA-1 MAC, which older macOS Keychains require; otherwise
    /// OpenSSL 3's defaults (PBES2/AES-256-CBC, SHA-256 MAC).
    public static func pkcs12(
        certificatePEM: [UInt8], privateKeyPEM: [UInt8], chainPEM: [UInt8], friendlyName: String,
        password: String, legacy: Bool
    ) throws -> [UInt8] {
        ERR_clear_error()
        guard let leaf = try X509Certificate.all(pem: certificatePEM).first else {
            throw TLSError("no certificate found in tls.crt", drainingQueue: false)
        }
        let key = try PrivateKey.parse(pem: privateKeyPEM)
        guard X509_check_private_key(leaf.pointer, key.pointer) == 1 else {
            throw TLSError("tls.key does not match tls.crt")
        }
        let chain = try X509Certificate.all(pem: chainPEM)
        guard let stack = tg_sk_X509_new_null() else { throw TLSError("cannot allocate a stack") }
        defer { tg_sk_X509_pop_free(stack) }
        for cert in chain {
            X509_up_ref(cert.pointer)
            _ = tg_sk_X509_push(stack, cert.pointer)
        }
        let pbe = legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : 0
        guard
            let p12 = PKCS12_create(
                password, friendlyName, key.pointer, leaf.pointer, stack, pbe, pbe,
                PKCS12_DEFAULT_ITER, legacy ? -1 : PKCS12_DEFAULT_ITER, 0)
        else {
            throw TLSError("cannot build the PKCS#12 bundle")
        }
        defer { PKCS12_free(p12) }
        if legacy {
            guard PKCS12_set_mac(p12, password, -1, nil, 0, 2048, EVP_sha1()) == 1 else {
                throw TLSError("cannot add the PKCS#12 MAC")
            }
        }
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_PKCS12(p12, &der)
        guard length > 0, let der else { throw TLSError("cannot encode the PKCS#12 bundle") }
        defer { tg_OPENSSL_free(der) }
        return Array(UnsafeBufferPointer(start: der, count: Int(length)))
    }

    /// The first certificate of a PEM bundle, re-encoded, so two files can be compared for "same CA".
    public static func normalizedPEM(_ pem: [UInt8]) -> [UInt8] { firstPEMBlock(pem) }

    /// A CRL signed by `authority` listing `revokedSerials` (hex), valid for `days`.
    public static func revocationList(authority: CertificateAuthority, revokedSerials: [String], days: Int) throws
        -> [UInt8]
    {
        ERR_clear_error()
        guard let caCert = try X509Certificate.all(pem: authority.certificatePEM).first else {
            throw TLSError("the CA certificate file holds no certificate", drainingQueue: false)
        }
        let key = try PrivateKey.parse(pem: authority.privateKeyPEM)
        guard let crl = X509_CRL_new() else { throw TLSError("cannot allocate a CRL") }
        defer { X509_CRL_free(crl) }
        X509_CRL_set_version(crl, 1)
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(caCert.pointer))
        guard let now = ASN1_TIME_new(), let next = ASN1_TIME_new() else { throw TLSError("cannot allocate a time") }
        defer {
            ASN1_TIME_free(now)
            ASN1_TIME_free(next)
        }
        X509_gmtime_adj(now, 0)
        X509_gmtime_adj(next, days * 86_400)
        X509_CRL_set1_lastUpdate(crl, now)
        X509_CRL_set1_nextUpdate(crl, next)
        for hex in revokedSerials {
            var bn: OpaquePointer?
            guard BN_hex2bn(&bn, hex) > 0, let bn else {
                throw TLSError("invalid serial '\(hex)'", drainingQueue: false)
            }
            defer { BN_free(bn) }
            guard let revoked = X509_REVOKED_new(), let serial = BN_to_ASN1_INTEGER(bn, nil) else {
                throw TLSError("cannot allocate an entry")
            }
            X509_REVOKED_set_serialNumber(revoked, serial)
            X509_REVOKED_set_revocationDate(revoked, now)
            ASN1_INTEGER_free(serial)
            X509_CRL_add0_revoked(crl, revoked)
        }
        X509_CRL_sort(crl)
        guard X509_CRL_sign(crl, key.pointer, EVP_sha256()) > 0 else { throw TLSError("cannot sign the CRL") }
        return Array(readMemoryBIO { _ = PEM_write_bio_X509_CRL($0, crl) }.utf8)
    }

    /// What a certificate says, and what Tollgate will make of it.
    public struct Report: Sendable {
        public var summary: CertificateSummary
        public var serialHex: String
        public var isCA: Bool
        public var extendedKeyUsages: [String]
        public var keyDescription: String
        /// The principal Tollgate derives (first `spiffe://` URI SAN without the scheme).
        public var principal: String?
        /// nil when no CA was given; otherwise OK or OpenSSL's reason.
        public var chainCheck: String?
        /// Hex SHA-256 of the certificate's DER: what a gateway sees of it (`PeerIdentity.leafSHA256`).
        public var sha256Hex: String
    }

    /// Reads the first certificate of `pem`; with `caPEM`, verifies it against that CA bundle as a
    /// client certificate would be verified (chain, validity, clientAuth usage when it has one).
    public static func inspect(pem: [UInt8], caPEM: [UInt8]?, crlPEM: [UInt8]? = nil) throws -> Report {
        ERR_clear_error()
        guard let cert = try X509Certificate.all(pem: pem).first else {
            throw TLSError("no PEM certificate found", drainingQueue: false)
        }
        let summary = CertificateSummary(cert.pointer)
        var serialHex = ""
        if let serial = X509_get0_serialNumber(cert.pointer), let bn = ASN1_INTEGER_to_BN(serial, nil) {
            if let hex = BN_bn2hex(bn) {
                serialHex = String(cString: hex)
                tg_OPENSSL_free(hex)
            }
            BN_free(bn)
        }
        let flags = X509_get_extension_flags(cert.pointer)
        let isCA = flags & UInt32(EXFLAG_CA) != 0
        let xku = X509_get_extended_key_usage(cert.pointer)
        var ekus: [String] = []
        if flags & UInt32(EXFLAG_XKUSAGE) != 0 {
            if xku & UInt32(XKU_SSL_SERVER) != 0 { ekus.append("serverAuth") }
            if xku & UInt32(XKU_SSL_CLIENT) != 0 { ekus.append("clientAuth") }
        }
        var keyDescription = "unknown"
        if let key = X509_get0_pubkey(cert.pointer) {
            let bits = EVP_PKEY_get_bits(key)
            keyDescription =
                EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA
                ? "RSA \(bits)" : (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ? "ECDSA \(bits)" : "\(bits) bits")
        }
        let identity = PeerIdentity(
            verified: true, subjectAltNames: summary.subjectAltNames, subject: summary.subject, leafSHA256: "",
            leafPEM: "")
        var chainCheck: String?
        if let caPEM {
            chainCheck = try verify(
                cert, caPEM: caPEM, crlPEM: crlPEM, purposeClient: ekus.contains("clientAuth") || ekus.isEmpty)
        }
        return Report(
            summary: summary, serialHex: serialHex, isCA: isCA, extendedKeyUsages: ekus, keyDescription: keyDescription,
            principal: identity.principal, chainCheck: chainCheck, sha256Hex: sha256Hex(cert.pointer))
    }

    static func verify(_ cert: X509Certificate, caPEM: [UInt8], crlPEM: [UInt8]?, purposeClient: Bool) throws -> String
    {
        guard let store = X509_STORE_new() else { throw TLSError("cannot allocate a store") }
        defer { X509_STORE_free(store) }
        let cas = try X509Certificate.all(pem: caPEM)
        for ca in cas { X509_STORE_add_cert(store, ca.pointer) }
        if let crlPEM {
            for crl in try RevocationList.all(pem: crlPEM) { X509_STORE_add_crl(store, crl.pointer) }
            X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK))
        }
        guard let ctx = X509_STORE_CTX_new() else { throw TLSError("cannot allocate a store context") }
        defer { X509_STORE_CTX_free(ctx) }
        X509_STORE_CTX_init(ctx, store, cert.pointer, nil)
        if purposeClient { X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) }
        let ok = X509_verify_cert(ctx) == 1
        ERR_clear_error()
        return ok ? "OK" : String(cString: X509_verify_cert_error_string(Int(X509_STORE_CTX_get_error(ctx))))
    }
}
