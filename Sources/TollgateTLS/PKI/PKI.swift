internal import COpenSSL
import TollgateCore

/// Issues keys, certificates, PKCS#12 bundles and CRLs with OpenSSL's library (no `openssl` command).
public enum PKI {
    /// Issues `spec`, signed by `authority` (self-signed when nil). `reusingKey` keeps an existing key,
    /// as a CA renewal must so that certificates it issued still chain to it.
    public static func issue(
        _ spec: CertificateSpec, signedBy authority: CertificateAuthority?, reusingKey: [UInt8]? = nil,
        backdateSeconds: Int = 300
    ) throws -> IssuedCredential {
        ERR_clear_error()
        let key = try reusingKey.map { try PrivateKey.parse(pem: $0) } ?? generateKey(spec.key)
        let signerKey = try authority.map { try PrivateKey.parse(pem: $0.privateKeyPEM) } ?? key
        let issuerCert = try authority.map { auth -> X509Certificate in
            guard let first = try X509Certificate.all(pem: auth.certificatePEM).first else {
                throw TLSError("the CA certificate file holds no certificate", drainingQueue: false)
            }
            return first
        }
        if let issuerCert, X509_check_private_key(issuerCert.pointer, signerKey.pointer) != 1 {
            throw TLSError("the CA key does not match the CA certificate")
        }
        guard let x509 = X509_new() else { throw TLSError("cannot allocate a certificate") }
        defer { X509_free(x509) }
        X509_set_version(x509, 2)
        let serialHex = try setRandomSerial(x509)
        X509_gmtime_adj(X509_getm_notBefore(x509), -backdateSeconds)
        X509_gmtime_adj(X509_getm_notAfter(x509), Int(spec.validitySeconds))
        guard let name = X509_NAME_new() else { throw TLSError("cannot allocate a name") }
        defer { X509_NAME_free(name) }
        guard X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, spec.commonName, -1, -1, 0) == 1 else {
            throw TLSError("invalid common name '\(spec.commonName)'")
        }
        X509_set_subject_name(x509, name)
        X509_set_issuer_name(x509, issuerCert.map { X509_get_subject_name($0.pointer) } ?? name)
        X509_set_pubkey(x509, key.pointer)

        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuerCert?.pointer ?? x509, x509, nil, nil, 0)
        for (nid, value) in extensions(spec, isRSA: EVP_PKEY_get_base_id(key.pointer) == EVP_PKEY_RSA) {
            guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
                throw TLSError("invalid extension value '\(value)'")
            }
            X509_add_ext(x509, ext, -1)
            X509_EXTENSION_free(ext)
        }
        guard X509_sign(x509, signerKey.pointer, EVP_sha256()) > 0 else { throw TLSError("signing failed") }
        let certPEM = Array(readMemoryBIO { _ = PEM_write_bio_X509($0, x509) }.utf8)
        return IssuedCredential(
            certificatePEM: certPEM, privateKeyPEM: try encode(key, spec.keyEncoding),
            caPEM: authority.map { Array(firstPEMBlock($0.certificatePEM)) } ?? certPEM,
            serialHex: serialHex, notAfter: epochSeconds(X509_get0_notAfter(x509)) ?? 0)
    }

    static func extensions(_ spec: CertificateSpec, isRSA: Bool) -> [(Int32, String)] {
        var list: [(Int32, String)] = []
        if spec.isCA {
            list.append((NID_basic_constraints, "critical,CA:TRUE"))
            list.append((NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"))
        } else {
            list.append((NID_basic_constraints, "critical,CA:FALSE"))
            var usage = ["digitalSignature"]
            if isRSA && (spec.usages.contains(.keyEncipherment) || spec.usages.contains(.serverAuth)) {
                usage.append("keyEncipherment")
            }
            list.append((NID_key_usage, "critical," + usage.joined(separator: ",")))
            var eku: [String] = []
            if spec.usages.contains(.serverAuth) { eku.append("serverAuth") }
            if spec.usages.contains(.clientAuth) { eku.append("clientAuth") }
            if !eku.isEmpty { list.append((NID_ext_key_usage, eku.joined(separator: ","))) }
        }
        let sans =
            spec.dnsNames.map { "DNS:\($0)" } + spec.ipAddresses.map { "IP:\($0)" } + spec.uris.map { "URI:\($0)" }
            + spec.emailAddresses.map { "email:\($0)" }
        if !sans.isEmpty { list.append((NID_subject_alt_name, sans.joined(separator: ","))) }
        list.append((NID_subject_key_identifier, "hash"))
        list.append((NID_authority_key_identifier, "keyid:always"))
        return list
    }

    static func generateKey(_ algorithm: KeyAlgorithm) throws -> PrivateKey {
        let typeName: String
        switch algorithm {
        case .rsa: typeName = "RSA"
        case .ecdsa: typeName = "EC"
        }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, typeName, nil) else {
            throw TLSError("cannot create a key context")
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1 else { throw TLSError("cannot start key generation") }
        switch algorithm {
        case .rsa(let bits):
            guard [2048, 3072, 4096].contains(bits), EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) == 1 else {
                throw TLSError("unsupported RSA size \(bits)")
            }
        case .ecdsa(let curve):
            guard EVP_PKEY_CTX_set_group_name(ctx, curve.rawValue) == 1 else {
                throw TLSError("unsupported curve \(curve.rawValue)")
            }
        }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(ctx, &key) == 1, let key else { throw TLSError("key generation failed") }
        return PrivateKey(taking: key)
    }

    static func encode(_ key: PrivateKey, _ encoding: KeyEncoding) throws -> [UInt8] {
        let text = readMemoryBIO { bio in
            switch encoding {
            case .pkcs8: _ = PEM_write_bio_PrivateKey(bio, key.pointer, nil, nil, 0, nil, nil)
            case .pkcs1: _ = PEM_write_bio_PrivateKey_traditional(bio, key.pointer, nil, nil, 0, nil, nil)
            }
        }
        guard !text.isEmpty else { throw TLSError("cannot encode the private key") }
        return Array(text.utf8)
    }

    /// A random positive 128-bit serial (CA/B Forum asks for at least 64 bits of entropy).
    static func setRandomSerial(_ x509: OpaquePointer) throws -> String {
        guard let bn = BN_new() else { throw TLSError("cannot allocate a number") }
        defer { BN_free(bn) }
        guard BN_rand(bn, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1, let serial = BN_to_ASN1_INTEGER(bn, nil)
        else {
            throw TLSError("cannot draw a serial number")
        }
        defer { ASN1_INTEGER_free(serial) }
        X509_set_serialNumber(x509, serial)
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { tg_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    static func firstPEMBlock(_ pem: [UInt8]) -> [UInt8] {
        guard let first = try? X509Certificate.all(pem: pem).first else { return pem }
        return Array(readMemoryBIO { _ = PEM_write_bio_X509($0, first.pointer) }.utf8)
    }
}
