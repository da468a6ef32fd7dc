internal import COpenSSL

/// An owned X509 certificate.
final class X509Certificate {
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_free(pointer) }

    /// Every certificate in a PEM bundle, in order.
    static func all(pem: [UInt8]) throws -> [X509Certificate] {
        try withMemoryBIO(pem) { bio in
            var certificates: [X509Certificate] = []
            while let x = PEM_read_bio_X509(bio, nil, nil, nil) {
                certificates.append(X509Certificate(taking: x))
            }
            ERR_clear_error()  // the loop always ends on a "no start line" error
            return certificates
        }
    }
}

/// An owned private key.
final class PrivateKey {
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }

    static func parse(pem: [UInt8]) throws -> PrivateKey {
        try withMemoryBIO(pem) { bio in
            // Without a callback OpenSSL would ask for a passphrase on the terminal, and a reload would hang.
            guard let key = PEM_read_bio_PrivateKey(bio, nil, refusePassphrase, nil) else {
                if String(decoding: pem, as: UTF8.self).contains("ENCRYPTED") {
                    throw TLSError(
                        "the private key is encrypted with a passphrase; Tollgate reads unencrypted keys only "
                            + "(decrypt it with `openssl pkey -in KEY -out KEY`, and keep the file readable by Tollgate alone)"
                    )
                }
                throw TLSError("no private key found in PEM")
            }
            return PrivateKey(taking: key)
        }
    }
}

/// OpenSSL's passphrase callback: there is nobody to ask, so no passphrase.
private let refusePassphrase:
    @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, _, _ in
        -1
    }

/// An owned certificate revocation list.
final class RevocationList {
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_CRL_free(pointer) }

    static func all(pem: [UInt8]) throws -> [RevocationList] {
        try withMemoryBIO(pem) { bio in
            var lists: [RevocationList] = []
            while let crl = PEM_read_bio_X509_CRL(bio, nil, nil, nil) { lists.append(RevocationList(taking: crl)) }
            ERR_clear_error()
            return lists
        }
    }
}

func withMemoryBIO<T>(_ bytes: [UInt8], _ body: (OpaquePointer) throws -> T) throws -> T {
    try bytes.withUnsafeBytes { raw in
        guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
            throw TLSError("cannot allocate BIO")
        }
        defer { BIO_free(bio) }
        return try body(bio)
    }
}

/// Reads everything written to a fresh memory BIO by `write`.
func readMemoryBIO(_ write: (OpaquePointer) -> Void) -> String {
    guard let bio = BIO_new(BIO_s_mem()) else { return "" }
    defer { BIO_free(bio) }
    write(bio)
    var data: UnsafeMutablePointer<CChar>?
    let length = tg_BIO_get_mem_data(bio, &data)
    guard let data, length > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: data, count: Int(length)), as: UTF8.self)
}
