internal import COpenSSL
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
    /// The client certificate must carry one of these SANs (exact match, any type): Istio `subjectAltNames`.
    public var subjectAltNames: [String] = []
    /// Base64 SHA-256 of the client's SubjectPublicKeyInfo, or hex SHA-256 of its certificate; any one
    /// matching admits it (Istio `verifyCertificateSpki` / `verifyCertificateHash`).
    public var spkiPins: [String] = []
    public var certificateHashes: [String] = []

    public init(certificateChainPEM: [UInt8], privateKeyPEM: [UInt8], clientCAPEM: [UInt8]? = nil, crlPEM: [UInt8]? = nil,
                clientAuthentication: ClientAuthentication = .none, minVersion: ProtocolVersion = .tls12,
                maxVersion: ProtocolVersion = .tls13, cipherSuites: [String] = [], explainFailures: Bool = false) {
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
            && subjectAltNames == other.subjectAltNames && spkiPins == other.spkiPins && certificateHashes == other.certificateHashes
            && explainFailures == other.explainFailures && minVersion == other.minVersion && maxVersion == other.maxVersion
            && cipherSuites == other.cipherSuites
    }

    /// ECDHE key exchange with AEAD ciphers only, for TLS 1.2; TLS 1.3 suites are all AEAD.
    public static let defaultCipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ]
}

/// One `SSL_CTX` for one TLS server block. Built off the event loops; immutable and shared once built.
/// Owns its `SSL_CTX` and frees it on deinit.
public final class TLSServerContext: @unchecked Sendable {
    let context: OpaquePointer
    public let settings: TLSServerSettings
    /// Subject, SANs and expiry of the served leaf, for validation and logs.
    public let certificateSummary: CertificateSummary

    public init(_ settings: TLSServerSettings) throws {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw TLSError("cannot create SSL_CTX") }
        context = ctx
        self.settings = settings

        let chain = try X509Certificate.all(pem: settings.certificateChainPEM)
        guard let leaf = chain.first else { throw TLSError("no certificate found in the certificate file", drainingQueue: false) }
        guard SSL_CTX_use_certificate(ctx, leaf.pointer) == 1 else { throw TLSError("cannot use the server certificate") }
        for intermediate in chain.dropFirst() where tg_SSL_CTX_add1_chain_cert(ctx, intermediate.pointer) != 1 {
            throw TLSError("cannot add an intermediate certificate")
        }
        let key = try PrivateKey.parse(pem: settings.privateKeyPEM)
        guard SSL_CTX_use_PrivateKey(ctx, key.pointer) == 1 else { throw TLSError("cannot use the private key") }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw TLSError("the private key does not match the certificate")
        }
        certificateSummary = CertificateSummary(leaf.pointer)

        let versions: [TLSServerSettings.ProtocolVersion: Int32] = [.tls12: TLS1_2_VERSION, .tls13: TLS1_3_VERSION]
        _ = tg_SSL_CTX_set_min_proto_version(ctx, versions[settings.minVersion]!)
        _ = tg_SSL_CTX_set_max_proto_version(ctx, versions[settings.maxVersion]!)
        let ciphers = (settings.cipherSuites.isEmpty ? TLSServerSettings.defaultCipherSuites : settings.cipherSuites).joined(separator: ":")
        guard SSL_CTX_set_cipher_list(ctx, ciphers) == 1 else { throw TLSError("no usable cipher in '\(ciphers)'") }
        _ = tg_SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384")
        SSL_CTX_set_options(ctx, tg_server_hardening_options())
        _ = tg_SSL_CTX_set_mode(ctx, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS))
        // Resumption (tickets and the session cache) needs a session id context once clients are verified.
        let sidContext = Array("tollgate".utf8)
        _ = SSL_CTX_set_session_id_context(ctx, sidContext, UInt32(sidContext.count))
        _ = tg_SSL_CTX_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_SERVER))
        SSL_CTX_set_alpn_select_cb(ctx, selectALPN, nil)

        // The verify callback finds its settings through app data; the context outlives its SSL_CTX users.
        SSL_CTX_set_ex_data(ctx, 0, Unmanaged.passUnretained(self).toOpaque())
        if settings.clientAuthentication != .none {
            guard let caPEM = settings.clientCAPEM else { throw TLSError("client verification needs a CA bundle", drainingQueue: false) }
            let cas = try X509Certificate.all(pem: caPEM)
            guard !cas.isEmpty else { throw TLSError("no certificate found in the CA bundle", drainingQueue: false) }
            let store = SSL_CTX_get_cert_store(ctx)
            for ca in cas {
                guard X509_STORE_add_cert(store, ca.pointer) == 1 else { throw TLSError("cannot add a CA certificate") }
                // The CA names go into the CertificateRequest so browsers offer only matching certificates.
                guard SSL_CTX_add_client_CA(ctx, ca.pointer) == 1 else { throw TLSError("cannot add a client CA name") }
            }
            if let crlPEM = settings.crlPEM {
                let lists = try RevocationList.all(pem: crlPEM)
                guard !lists.isEmpty else { throw TLSError("no CRL found in the CRL file", drainingQueue: false) }
                for crl in lists where X509_STORE_add_crl(store, crl.pointer) != 1 {
                    throw TLSError("cannot add a CRL")
                }
                X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK))
            }
            var mode = SSL_VERIFY_PEER
            if settings.clientAuthentication == .required && !settings.explainFailures { mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT }
            SSL_CTX_set_verify(ctx, mode, verifyClientCertificate)
            SSL_CTX_set_verify_depth(ctx, 8)
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        }
    }

    deinit { SSL_CTX_free(context) }

    /// Called from OpenSSL's verify callback; reads only immutable settings.
    fileprivate func pinsAccept(_ cert: OpaquePointer) -> Bool {
        if !settings.subjectAltNames.isEmpty {
            let names = alternativeNames(cert).map { name -> String in
                switch name {
                case .dnsName(let v), .uniformResourceIdentifier(let v), .rfc822Name(let v): v
                case .ipAddress(let bytes): IPAddress(bytes: bytes).description
                }
            }
            guard names.contains(where: settings.subjectAltNames.contains) else { return false }
        }
        guard !settings.spkiPins.isEmpty || !settings.certificateHashes.isEmpty else { return true }
        if !settings.certificateHashes.isEmpty {
            let hash = sha256Hex(cert)
            let wanted = settings.certificateHashes.map { $0.replacingColons().lowercased() }
            if wanted.contains(hash) { return true }
        }
        if !settings.spkiPins.isEmpty, let spki = spkiSHA256Base64(cert), settings.spkiPins.contains(spki) { return true }
        return false
    }
}

/// Verifies the client certificate on top of OpenSSL's chain checks: Istio's SAN and pin lists. In
/// explain mode it lets the handshake finish whatever the verdict; the recorded error then drives the
/// explanation, and the client is never identified.
private let verifyClientCertificate: @convention(c) (Int32, OpaquePointer?) -> Int32 = { preverify, store in
    guard let store, let sslPointer = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()),
          let ctx = SSL_get_SSL_CTX(OpaquePointer(sslPointer)), let owner = SSL_CTX_get_ex_data(ctx, 0) else { return preverify }
    let context = Unmanaged<TLSServerContext>.fromOpaque(owner).takeUnretainedValue()
    var ok = preverify == 1
    if ok, X509_STORE_CTX_get_error_depth(store) == 0, let cert = X509_STORE_CTX_get_current_cert(store), !context.pinsAccept(cert) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION)
        ok = false
    }
    return context.settings.explainFailures || ok ? 1 : 0
}

func spkiSHA256Base64(_ cert: OpaquePointer) -> String? {
    guard let key = X509_get_X509_PUBKEY(cert) else { return nil }
    var der: UnsafeMutablePointer<UInt8>?
    let length = i2d_X509_PUBKEY(key, &der)
    guard length > 0, let der else { return nil }
    defer { tg_OPENSSL_free(der) }
    var digest = [UInt8](repeating: 0, count: 32)
    var size: UInt32 = 0
    guard EVP_Digest(der, Int(length), &digest, &size, EVP_sha256(), nil) == 1 else { return nil }
    return Base64.encode(digest)
}

extension String {
    fileprivate func replacingColons() -> String { String(filter { $0 != ":" }) }
}

/// ALPN: Tollgate speaks HTTP/1.1 only; a client offering only h2 gets no ALPN and falls back.
private let selectALPN: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
    UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
) -> Int32 = { _, out, outLength, offered, offeredLength, _ in
    guard let offered, let out, let outLength else { return SSL_TLSEXT_ERR_NOACK }
    var index = 0
    let wanted = Array("http/1.1".utf8)
    while index < Int(offeredLength) {
        let length = Int(offered[index])
        let start = index + 1
        guard start + length <= Int(offeredLength) else { break }
        if length == wanted.count && (0..<length).allSatisfy({ offered[start + $0] == wanted[$0] }) {
            out.pointee = offered + start
            outLength.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
        }
        index = start + length
    }
    return SSL_TLSEXT_ERR_NOACK
}

/// Subject, SANs and validity of a certificate, read once.
public struct CertificateSummary: Sendable, Equatable {
    public var subject: String
    public var issuer: String
    public var subjectAltNames: [GeneralName]
    public var notBefore: Int64?
    public var notAfter: Int64?

    init(_ cert: OpaquePointer) {
        subject = distinguishedName(X509_get_subject_name(cert))
        issuer = distinguishedName(X509_get_issuer_name(cert))
        subjectAltNames = alternativeNames(cert)
        notBefore = epochSeconds(X509_get0_notBefore(cert))
        notAfter = epochSeconds(X509_get0_notAfter(cert))
    }

    /// Whether the certificate's DNS SANs cover `host` (leftmost-label wildcards as RFC 6125).
    public func covers(host: String) -> Bool {
        let host = host.lowercased()
        for case .dnsName(let name) in subjectAltNames {
            let n = name.lowercased()
            if n == host { return true }
            if n.hasPrefix("*."), let dot = host.firstIndex(of: "."), host[dot...] == n.dropFirst(1) { return true }
        }
        for case .ipAddress(let bytes) in subjectAltNames where IPAddress(host)?.bytes == bytes { return true }
        return false
    }
}

func distinguishedName(_ name: OpaquePointer?) -> String {
    guard let name else { return "" }
    return readMemoryBIO { bio in
        _ = X509_NAME_print_ex(bio, name, 0, tg_XN_FLAG_RFC2253())
    }
}

func alternativeNames(_ cert: OpaquePointer) -> [GeneralName] {
    guard let raw = X509_get_ext_d2i(cert, NID_subject_alt_name, nil, nil) else { return [] }
    let names = OpaquePointer(raw)
    defer { GENERAL_NAMES_free(names) }
    var result: [GeneralName] = []
    for i in 0..<tg_sk_GENERAL_NAME_num(names) {
        guard let name = tg_sk_GENERAL_NAME_value(names, i), let string = tg_GENERAL_NAME_string(name) else { continue }
        guard let data = ASN1_STRING_get0_data(string) else { continue }
        let bytes = Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string))))
        switch tg_GENERAL_NAME_type(name) {
        case GEN_DNS: result.append(.dnsName(String(decoding: bytes, as: UTF8.self)))
        case GEN_URI: result.append(.uniformResourceIdentifier(String(decoding: bytes, as: UTF8.self)))
        case GEN_EMAIL: result.append(.rfc822Name(String(decoding: bytes, as: UTF8.self)))
        case GEN_IPADD: result.append(.ipAddress(bytes))
        default: break
        }
    }
    return result
}

func epochSeconds(_ time: UnsafePointer<ASN1_TIME>?) -> Int64? {
    guard let time else { return nil }
    var t = tm()
    guard ASN1_TIME_to_tm(time, &t) == 1 else { return nil }
    return Int64(timegm(&t))
}
