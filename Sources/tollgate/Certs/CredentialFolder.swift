import Foundation
import TollgateTLS

/// A credential folder as `credentialName` reads it: `tls.crt`, `tls.key`, `ca.crt` (and `ca.crl`).
struct CredentialFolder {
    let url: URL

    init(_ directory: String, _ name: String) {
        url = URL(fileURLWithPath: name.contains("/") ? name : (directory as NSString).appendingPathComponent(name))
    }

    var name: String { url.lastPathComponent }
    var exists: Bool { FileManager.default.fileExists(atPath: url.appendingPathComponent("tls.crt").path) }

    func read(_ file: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: url.appendingPathComponent(file).path) else {
            throw CertsError("cannot read \(url.appendingPathComponent(file).path)")
        }
        return Array(data)
    }

    func readIfPresent(_ file: String) -> [UInt8]? {
        FileManager.default.contents(atPath: url.appendingPathComponent(file).path).map(Array.init)
    }

    var authority: CertificateAuthority {
        get throws { CertificateAuthority(certificatePEM: try read("tls.crt"), privateKeyPEM: try read("tls.key")) }
    }

    /// Replaces the folder's certificate, key and CA in one step: everything is written to a sibling
    /// temporary folder first, so a failure leaves the old files as they were.
    func write(_ credential: IssuedCredential, extra: [String: [UInt8]] = [:]) throws {
        let fm = FileManager.default
        let parent = url.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let staging = parent.appendingPathComponent(".\(name).staging-\(UUID().uuidString.prefix(8))")
        try fm.createDirectory(at: staging, withIntermediateDirectories: false)
        do {
            var files: [String: [UInt8]] = [
                "tls.crt": credential.certificatePEM, "tls.key": credential.privateKeyPEM, "ca.crt": credential.caPEM,
            ]
            for (k, v) in extra { files[k] = v }
            // Keep files the folder already has and this write does not replace (a CRL, a revocation list).
            if fm.fileExists(atPath: url.path) {
                for entry in try fm.contentsOfDirectory(atPath: url.path) where files[entry] == nil {
                    files[entry] = readIfPresent(entry)
                }
            }
            for (file, bytes) in files {
                let path = staging.appendingPathComponent(file).path
                guard
                    fm.createFile(
                        atPath: path, contents: Data(bytes),
                        attributes: [.posixPermissions: file.hasSuffix(".key") ? 0o600 : 0o644])
                else {
                    throw CertsError("cannot write \(path)")
                }
            }
            let backup = parent.appendingPathComponent(".\(name).previous-\(UUID().uuidString.prefix(8))")
            if fm.fileExists(atPath: url.path) { try fm.moveItem(at: url, to: backup) }
            try fm.moveItem(at: staging, to: url)
            try? fm.removeItem(at: backup)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }

    func writeFile(_ file: String, _ bytes: [UInt8]) throws {
        let path = url.appendingPathComponent(file).path
        let temp = path + ".tmp"
        guard FileManager.default.createFile(atPath: temp, contents: Data(bytes)) else {
            throw CertsError("cannot write \(temp)")
        }
        // rename(2) replaces the old file in one step: a reader sees the old or the new file, never half of one.
        guard rename(temp, path) == 0 else {
            throw CertsError("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }
}

struct CertsError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Where a PKCS#12 password comes from: a file, `TOLLGATE_P12_PASSWORD`, or a prompt — never argv,
/// which other users can read in the process list.
enum PasswordSource {
    static func read(file: String?, confirm: Bool) throws -> String {
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CertsError("cannot read the password file \(file)")
            }
            let password = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
            guard !password.isEmpty else { throw CertsError("the password file \(file) is empty") }
            return password
        }
        if let env = ProcessInfo.processInfo.environment["TOLLGATE_P12_PASSWORD"], !env.isEmpty { return env }
        guard isatty(STDIN_FILENO) == 1, let first = getpass("PKCS#12 export password: ") else {
            throw CertsError("no password: use --password-file FILE or set TOLLGATE_P12_PASSWORD")
        }
        let password = String(cString: first)
        guard !password.isEmpty else { throw CertsError("an empty password is not accepted") }
        if confirm {
            guard let again = getpass("Repeat the password: "), String(cString: again) == password else {
                throw CertsError("the passwords do not match")
            }
        }
        return password
    }
}
