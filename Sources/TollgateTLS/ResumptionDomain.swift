internal import COpenSSL
import Synchronization

/// The sessions one server block may resume: those it issued itself under the same trust settings.
///
/// Two independent locks keep blocks apart, because OpenSSL keeps one session cache and one ticket
/// callback per port (the `SSL_CTX` a connection started on, whatever block it switched to):
/// - the session id context is a digest of the block's trust fingerprint, and OpenSSL resumes a
///   cached TLS 1.2 session only under the context it was created in;
/// - the block's ticket keys are derived from the process secret and the same digest, so a ticket
///   (TLS 1.2 or 1.3) sealed for one block does not even decrypt on another.
/// A reload that changes a block's trust (a new CRL, other pins) changes both, which ends every
/// session verified the old way; a reload that leaves trust alone keeps clients' sessions valid.
final class ResumptionDomain: Sendable {
    /// SHA-256 of the trust fingerprint: exactly `SSL_MAX_SID_CTX_LENGTH` bytes.
    let sessionIDContext: [UInt8]
    private let ring: SessionTicketKeyRing
    /// This block's keys for the ring's current generation, derived once per generation.
    private let derived = Mutex<(generation: Int, keys: [SessionTicketKey])>((0, []))

    init(settings: TLSServerSettings, ring: SessionTicketKeyRing = .shared) {
        sessionIDContext = sha256(settings.trustFingerprint)
        self.ring = ring
    }

    /// This block's ticket keys, the sealing one first.
    var ticketKeys: [SessionTicketKey] {
        let current = ring.current
        return derived.withLock { cache in
            if cache.generation != current.generation {
                cache = (
                    current.generation, current.secrets.map { SessionTicketKey(secret: $0, domain: sessionIDContext) }
                )
            }
            return cache.keys
        }
    }
}

/// One block's ticket key as RFC 5077 §4 suggests: a name to recognise it, an HMAC-SHA256 key and an
/// AES-256 key, all derived (HKDF-SHA256) from a ring secret and the block's trust digest.
struct SessionTicketKey: Sendable, Equatable {
    static let nameLength = 16
    let name: [UInt8]
    let hmacKey: [UInt8]
    let aesKey: [UInt8]

    /// AES-256-CBC fetched once: `EVP_aes_256_cbc()` is looked up in the provider store on every use.
    nonisolated(unsafe) static let cipher: OpaquePointer = {
        guard let cipher = EVP_CIPHER_fetch(nil, "AES-256-CBC", nil) else {
            fatalError("OpenSSL has no AES-256-CBC: \(TLSError.drainErrorQueue())")
        }
        return cipher
    }()

    init(secret: [UInt8], domain: [UInt8]) {
        let material = hkdfSHA256(
            secret: secret, salt: Array("tollgate session tickets v1".utf8), info: domain, length: 80)
        name = Array(material[0..<16])
        hmacKey = Array(material[16..<48])
        aesKey = Array(material[48..<80])
    }
}

func sha256(_ bytes: [UInt8]) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 0
    _ = EVP_Digest(bytes, bytes.count, &digest, &length, EVP_sha256(), nil)
    return digest
}

func hmacSHA256(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 0
    _ = HMAC(EVP_sha256(), key, Int32(key.count), data, data.count, &out, &length)
    return out
}

/// HKDF with SHA-256 (RFC 5869): extract, then expand to `length` bytes.
func hkdfSHA256(secret: [UInt8], salt: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
    let pseudorandomKey = hmacSHA256(key: salt, secret)
    var output: [UInt8] = []
    var block: [UInt8] = []
    var counter: UInt8 = 1
    while output.count < length {
        block = hmacSHA256(key: pseudorandomKey, block + info + [counter])
        output += block
        counter += 1
    }
    return Array(output.prefix(length))
}

/// OpenSSL's ticket key callback, installed on the port's `SSL_CTX`: it seals and opens tickets with
/// the keys of the block the client-hello callback chose for this connection. Returns 0 (no ticket, or
/// "cannot open": a full handshake) whenever the block is unknown or the key name is none of this block's.
let sessionTicketKeyCallback:
    @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?, OpaquePointer?, OpaquePointer?,
        Int32
    ) -> Int32 = { ssl, keyName, iv, cipher, mac, encrypt in
        guard let ssl, let keyName, let iv, let cipher, let mac, let block = TLSServerContext.owner(of: ssl) else {
            return 0
        }
        let keys = block.resumption.ticketKeys
        if encrypt == 1 {
            // A client the block did not fully admit (explain mode) gets nothing that outlives the connection.
            guard block.admitsResumption(of: ssl), let key = keys.first else { return 0 }
            key.name.withUnsafeBufferPointer {
                keyName.update(from: $0.baseAddress!, count: SessionTicketKey.nameLength)
            }
            guard RAND_bytes(iv, 16) == 1,
                EVP_EncryptInit_ex(cipher, SessionTicketKey.cipher, nil, key.aesKey, iv) == 1,
                tg_session_ticket_hmac_init(mac, key.hmacKey, key.hmacKey.count) == 1
            else { return -1 }
            return 1
        }
        guard
            let key = keys.first(where: { key in
                (0..<SessionTicketKey.nameLength).allSatisfy { keyName[$0] == key.name[$0] }
            })
        else { return 0 }
        guard EVP_DecryptInit_ex(cipher, SessionTicketKey.cipher, nil, key.aesKey, iv) == 1,
            tg_session_ticket_hmac_init(mac, key.hmacKey, key.hmacKey.count) == 1
        else { return -1 }
        // Accept, and have OpenSSL issue a fresh ticket (under the current key) on the resumed connection too:
        // TLS 1.3 clients use a ticket once, and without a successor every other reconnect is a full handshake.
        return 2
    }
