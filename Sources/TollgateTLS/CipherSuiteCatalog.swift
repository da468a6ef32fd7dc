internal import COpenSSL

/// One TLS 1.2 cipher suite as OpenSSL describes it: enough to judge it against Tollgate's default
/// policy (`CipherSuitePolicy`).
public struct CipherSuiteDescription: Sendable, Equatable {
    public enum KeyExchange: String, Sendable {
        case ecdhe = "ECDHE"
        case dhe = "DHE"
        case rsa = "RSA"
        case psk = "PSK"
        case other = "other"
    }

    public var name: String
    public var keyExchange: KeyExchange
    /// The server is not authenticated at all (anonymous Diffie-Hellman).
    public var anonymous: Bool
    public var isAEAD: Bool
    /// False for the NULL ciphers.
    public var encrypts: Bool
    public var bits: Int

    public init(
        name: String, keyExchange: KeyExchange, anonymous: Bool = false, isAEAD: Bool, encrypts: Bool = true,
        bits: Int = 128
    ) {
        self.name = name
        self.keyExchange = keyExchange
        self.anonymous = anonymous
        self.isAEAD = isAEAD
        self.encrypts = encrypts
        self.bits = bits
    }
}

/// Expands OpenSSL cipher strings (`HIGH`, `AES128-SHA`, `@SECLEVEL=0`) the way `TLSServerContext` applies
/// them, in a scratch `SSL_CTX`, so `validate` can judge what a configured string really enables.
public enum CipherSuiteCatalog {
    public struct Expansion: Sendable, Equatable {
        /// TLS 1.2 and older suites, in OpenSSL's order (TLS 1.3 suites are not set by cipher strings).
        public var suites: [CipherSuiteDescription]
        public var securityLevel: Int
    }

    /// nil when OpenSSL accepts nothing in `cipherString`.
    public static func expand(_ cipherString: String) -> Expansion? {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { return nil }
        defer { SSL_CTX_free(ctx) }
        guard SSL_CTX_set_cipher_list(ctx, cipherString) == 1, let stack = SSL_CTX_get_ciphers(ctx) else {
            ERR_clear_error()
            return nil
        }
        var suites: [CipherSuiteDescription] = []
        for index in 0..<OPENSSL_sk_num(stack) {
            guard let raw = OPENSSL_sk_value(stack, index) else { continue }
            let cipher = OpaquePointer(raw)
            let kx = SSL_CIPHER_get_kx_nid(cipher)
            if kx == NID_kx_any { continue }  // a TLS 1.3 suite
            let keyExchange: CipherSuiteDescription.KeyExchange =
                switch kx {
                case NID_kx_ecdhe: .ecdhe
                case NID_kx_dhe: .dhe
                case NID_kx_rsa: .rsa
                case NID_kx_psk, NID_kx_ecdhe_psk, NID_kx_dhe_psk, NID_kx_rsa_psk: .psk
                default: .other
                }
            suites.append(
                CipherSuiteDescription(
                    name: String(cString: SSL_CIPHER_get_name(cipher)), keyExchange: keyExchange,
                    anonymous: SSL_CIPHER_get_auth_nid(cipher) == NID_auth_null,
                    isAEAD: SSL_CIPHER_is_aead(cipher) == 1,
                    encrypts: SSL_CIPHER_get_cipher_nid(cipher) != NID_undef,
                    bits: Int(SSL_CIPHER_get_bits(cipher, nil))))
        }
        return Expansion(suites: suites, securityLevel: Int(SSL_CTX_get_security_level(ctx)))
    }

    /// The security level a context gets when no cipher string lowers it (2 on Debian's OpenSSL 3).
    public static let defaultSecurityLevel: Int = {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { return 1 }
        defer { SSL_CTX_free(ctx) }
        return Int(SSL_CTX_get_security_level(ctx))
    }()
}
