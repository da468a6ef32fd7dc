internal import COpenSSL
import TollgateCore

/// One `SSL_CTX` for one TLS server block. Built off the event loops; immutable and shared once built.
/// Owns its `SSL_CTX` and frees it on deinit.
public final class TLSServerContext: @unchecked Sendable {
    let context: OpaquePointer
    public let settings: TLSServerSettings
    /// Subject, SANs and expiry of the served leaf, for validation and logs.
    public let certificateSummary: CertificateSummary
    let resumption: ResumptionDomain
    private let verifyMode: Int32

    public init(_ settings: TLSServerSettings) throws {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw TLSError("cannot create SSL_CTX") }
        context = ctx
        self.settings = settings

        let chain = try X509Certificate.all(pem: settings.certificateChainPEM)
        guard let leaf = chain.first else {
            throw TLSError("no certificate found in the certificate file", drainingQueue: false)
        }
        guard SSL_CTX_use_certificate(ctx, leaf.pointer) == 1 else {
            throw TLSError("cannot use the server certificate")
        }
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
        let ciphers = (settings.cipherSuites.isEmpty ? TLSServerSettings.defaultCipherSuites : settings.cipherSuites)
            .joined(separator: ":")
        guard SSL_CTX_set_cipher_list(ctx, ciphers) == 1 else { throw TLSError("no usable cipher in '\(ciphers)'") }
        Self.applyConnectionDefaults(ctx)
        resumption = ResumptionDomain(settings: settings)
        _ = SSL_CTX_set_session_id_context(ctx, resumption.sessionIDContext, UInt32(resumption.sessionIDContext.count))
        // The callback's argument says whether h2 may be chosen: any non-nil pointer means yes.
        SSL_CTX_set_alpn_select_cb(ctx, selectALPN, settings.offersHTTP2 ? ALPN.offersHTTP2 : nil)

        var verifyMode = SSL_VERIFY_NONE
        if settings.clientAuthentication != .none {
            guard let caPEM = settings.clientCAPEM else {
                throw TLSError("client verification needs a CA bundle", drainingQueue: false)
            }
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
                // CRLs from more than one issuer cover the intermediates too: then every certificate of the
                // chain is checked, as Envoy does, and a revoked intermediate fails; one CRL checks the leaf.
                let issuers = Set(lists.map { distinguishedName(X509_CRL_get_issuer($0.pointer)) })
                let flags =
                    issuers.count > 1 ? X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL : X509_V_FLAG_CRL_CHECK
                X509_STORE_set_flags(store, UInt(flags))
            }
            verifyMode = SSL_VERIFY_PEER
            if settings.clientAuthentication == .required && !settings.explainFailures
                && !settings.admitsClientsWithoutCertificate
            {
                verifyMode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT
            }
        }
        self.verifyMode = verifyMode
        SSL_CTX_set_verify(ctx, verifyMode, verifyMode == SSL_VERIFY_NONE ? nil : verifyClientCertificate)
        SSL_CTX_set_verify_depth(ctx, Self.verifyDepth)
        // Callbacks find their block through app data; the context outlives its SSL_CTX's users.
        SSL_CTX_set_ex_data(ctx, 0, Unmanaged.passUnretained(self).toOpaque())
    }

    private static let verifyDepth: Int32 = 8

    /// What every connection of every block gets. OpenSSL copies these into an `SSL` when it is created,
    /// from the port's context (`TLSServerGroup`), and never from a context it switches to: so they are
    /// set on both, the same.
    /// Writes may complete in part and be retried from another buffer (the channel's queue moves);
    /// idle connections give their record buffers back.
    /// The server sends the chain its certificate file holds, as Envoy does: without `NO_AUTO_CHAIN`
    /// OpenSSL builds a chain for a leaf that has none on every full handshake, a verification of the
    /// server's own certificate against the client CA store (a signature check and the store's locks).
    static let connectionModes = UInt64(
        SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS
            | SSL_MODE_NO_AUTO_CHAIN)

    static func applyConnectionDefaults(_ ctx: OpaquePointer) {
        _ = tg_SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384")
        SSL_CTX_set_options(ctx, tg_server_hardening_options())
        _ = tg_SSL_CTX_set_mode(ctx, Int(connectionModes))
        // Read what the socket has (up to a buffer) in one call, not a record header and then its body.
        _ = SSL_CTX_ctrl(ctx, SSL_CTRL_SET_READ_AHEAD, 1, nil)
    }

    /// Moves a connection that is still in its ClientHello onto this block, with every setting that
    /// OpenSSL copies into an `SSL` when it is created and does not take from a switched `SSL_CTX`:
    /// verification (mode, callback, depth), options, protocol versions and the session id context.
    /// Called before OpenSSL looks at sessions, tickets or versions. Ciphers are not copied: an `SSL`
    /// without a list of its own uses its current `SSL_CTX`'s (and its security level comes with the
    /// certificate settings `SSL_set_SSL_CTX` copies); a per-connection list would cost two cipher
    /// stacks per connection.
    func adopt(_ ssl: OpaquePointer) -> Bool {
        guard SSL_set_SSL_CTX(ssl, context) == context else { return false }
        SSL_set_verify(ssl, verifyMode, verifyMode == SSL_VERIFY_NONE ? nil : verifyClientCertificate)
        SSL_set_verify_depth(ssl, Self.verifyDepth)
        _ = SSL_clear_options(ssl, SSL_get_options(ssl))
        _ = SSL_set_options(ssl, SSL_CTX_get_options(context))
        let versions: [TLSServerSettings.ProtocolVersion: Int32] = [.tls12: TLS1_2_VERSION, .tls13: TLS1_3_VERSION]
        return tg_SSL_set_min_proto_version(ssl, versions[settings.minVersion]!) == 1
            && tg_SSL_set_max_proto_version(ssl, versions[settings.maxVersion]!) == 1
            && SSL_set_session_id_context(ssl, resumption.sessionIDContext, UInt32(resumption.sessionIDContext.count))
                == 1
    }

    /// The block a connection is on, once the client-hello callback has moved it off the port's context.
    static func owner(of ssl: OpaquePointer) -> TLSServerContext? {
        guard let ctx = SSL_get_SSL_CTX(ssl), let owner = SSL_CTX_get_ex_data(ctx, 0) else { return nil }
        return Unmanaged<TLSServerContext>.fromOpaque(owner).takeUnretainedValue()
    }

    /// Whether the client passed this block's verification in full, so its session may be resumed:
    /// in explain mode a client with a missing or failed certificate gets a connection, not a session.
    func admitsResumption(of ssl: OpaquePointer) -> Bool {
        // A resumed session came from a ticket or cache entry of this very domain, issued only to a client
        // the block admitted: its successor may be issued too (else every other reconnect is a full handshake).
        if SSL_session_reused(ssl) == 1 { return true }
        guard SSL_get_verify_result(ssl) == X509_V_OK else { return false }
        return settings.clientAuthentication != .required || SSL_get0_peer_certificate(ssl) != nil
    }

    deinit { SSL_CTX_free(context) }

    /// Called from OpenSSL's verify callback; reads only immutable settings.
    func pinsAccept(_ cert: OpaquePointer) -> Bool {
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
        if !settings.spkiPins.isEmpty, let spki = spkiSHA256Base64(cert), settings.spkiPins.contains(spki) {
            return true
        }
        return false
    }
}

/// Verifies the client certificate on top of OpenSSL's chain checks: Istio's SAN and pin lists. In
/// explain mode it lets the handshake finish whatever the verdict; the recorded error then drives the
/// explanation, and the client is never identified.
private let verifyClientCertificate: @convention(c) (Int32, OpaquePointer?) -> Int32 = { preverify, store in
    // Without its block the connection cannot be verified as configured: fail closed.
    guard let store, let sslPointer = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()),
        let context = TLSServerContext.owner(of: OpaquePointer(sslPointer))
    else { return 0 }
    var ok = preverify == 1
    if ok, X509_STORE_CTX_get_error_depth(store) == 0, let cert = X509_STORE_CTX_get_current_cert(store),
        !context.pinsAccept(cert)
    {
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

/// ALPN (RFC 7301): `h2` when the client offers it and the connection meets RFC 9113 §9.2, else
/// `http/1.1`, whatever order the client lists them in. A client that offers ALPN with neither gets the
/// `no_application_protocol` alert (§3.2); one that offers no ALPN speaks HTTP/1.1.
private let selectALPN:
    @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
        UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
    ) -> Int32 = { ssl, out, outLength, offered, offeredLength, offersHTTP2 in
        guard let ssl, let offered, let out, let outLength else { return SSL_TLSEXT_ERR_NOACK }
        let list = UnsafeBufferPointer(start: offered, count: Int(offeredLength))
        let allowsHTTP2 = offersHTTP2 != nil && ALPN.meetsHTTP2Requirements(ssl)
        guard let chosen = ALPN.choose(offered: list, allowingHTTP2: allowsHTTP2) else {
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }
        out.pointee = offered + chosen.lowerBound
        outLength.pointee = UInt8(chosen.count)
        if list[chosen].elementsEqual(ALPN.h2) { ALPN.deferMissingCertificateRefusalToHTTP11(ssl) }
        return SSL_TLSEXT_ERR_OK
    }

enum ALPN {
    static let h2 = Array("h2".utf8)
    static let http11 = Array("http/1.1".utf8)
    /// A marker, never dereferenced: the ALPN callback's argument when h2 is offered.
    nonisolated(unsafe) static let offersHTTP2 = UnsafeMutableRawPointer(bitPattern: 1)

    /// Where in the client's protocol list (RFC 7301 §3.1: length-prefixed names) the chosen name is: `h2`
    /// when allowed and offered, else `http/1.1`, whatever the client's order; nil when neither is offered. A
    /// list whose last length runs past its end is read up to that entry only.
    static func choose(offered: UnsafeBufferPointer<UInt8>, allowingHTTP2: Bool) -> Range<Int>? {
        func find(_ wanted: [UInt8]) -> Range<Int>? {
            var index = 0
            while index < offered.count {
                let length = Int(offered[index])
                let start = index + 1
                guard start + length <= offered.count else { return nil }
                if length == wanted.count && (0..<length).allSatisfy({ offered[start + $0] == wanted[$0] }) {
                    return start..<(start + length)
                }
                index = start + length
            }
            return nil
        }
        if allowingHTTP2, let h2 = find(h2) { return h2 }
        return find(http11)
    }

    /// On TLS 1.3 a client's handshake is over once it sends its Finished, together with its certificate,
    /// so a refusal alert reaches a client that is already speaking h2; Firefox then drops the TLS error
    /// (its HTTP/2 session closes the stream as aborted) and shows no page. Browsers never send a
    /// certificate the server's CA list or its dates rule out, so a browser without a usable certificate
    /// sends none: an h2 connection to a block that requires certificates finishes its handshake when the
    /// client sent no certificate (a presented one that fails still fails the handshake), and its streams
    /// are refused with HTTP_1_1_REQUIRED: the client retries over HTTP/1.1, where the alert is sent and
    /// named. No identity, no ticket, never routed. Blocks that admit certificate-less clients for
    /// enrollment already finish such handshakes and serve their links over h2.
    static func deferMissingCertificateRefusalToHTTP11(_ ssl: OpaquePointer) {
        let mode = SSL_get_verify_mode(ssl)
        guard SSL_version(ssl) >= TLS1_3_VERSION, mode & SSL_VERIFY_FAIL_IF_NO_PEER_CERT != 0 else { return }
        SSL_set_verify(ssl, mode & ~SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verifyClientCertificate)
    }

    /// Whether `deferMissingCertificateRefusalToHTTP11` applied: a block that fails handshakes left one without that flag.
    static func refusalDeferred(_ ssl: OpaquePointer, _ settings: TLSServerSettings) -> Bool {
        settings.clientAuthentication == .required && !settings.explainFailures
            && !settings.admitsClientsWithoutCertificate
            && SSL_get_verify_mode(ssl) & SSL_VERIFY_FAIL_IF_NO_PEER_CERT == 0
    }

    /// RFC 9113 §9.2: TLS 1.3, or TLS 1.2 with an ephemeral key exchange and an AEAD cipher (nothing on the
    /// Appendix A block list). The default cipher list meets it; a configured `cipherSuites` might not, and
    /// such a connection is offered HTTP/1.1 rather than an h2 its client would refuse. Compression and
    /// renegotiation are off on every context (`tg_server_hardening_options`). The cipher is chosen before
    /// ALPN is, so it is known here.
    static func meetsHTTP2Requirements(_ ssl: OpaquePointer) -> Bool {
        if SSL_version(ssl) >= TLS1_3_VERSION { return true }
        guard SSL_version(ssl) == TLS1_2_VERSION, let cipher = SSL_get_pending_cipher(ssl) else { return false }
        let exchange = SSL_CIPHER_get_kx_nid(cipher)
        return SSL_CIPHER_is_aead(cipher) == 1 && (exchange == NID_kx_ecdhe || exchange == NID_kx_dhe)
    }
}

/// Subject, SANs and validity of a certificate, read once.
public struct CertificateSummary: Sendable, Equatable {
    public var subject: String
    public var issuer: String
    public var subjectAltNames: [GeneralName]
    public var notBefore: Int64?
    public var notAfter: Int64?

    public init(
        subject: String, issuer: String, subjectAltNames: [GeneralName] = [], notBefore: Int64? = nil,
        notAfter: Int64? = nil
    ) {
        self.subject = subject
        self.issuer = issuer
        self.subjectAltNames = subjectAltNames
        self.notBefore = notBefore
        self.notAfter = notAfter
    }

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
