import Foundation
import TollgateConfig

/// The files of one credential: what a Kubernetes TLS secret mounted as a volume holds.
public struct Credential: Sendable {
    public var certificateChain: [UInt8]
    public var privateKey: [UInt8]
    public var caCertificates: [UInt8]?
    public var crl: [UInt8]?
    /// Where it came from, for messages.
    public var source: String
}

/// Resolves `credentialName` as Istio does: `NAME-cacert` for the client CA when present, generic
/// keys (`cert`, `key`, `cacert`, `crl`) before TLS-style ones (`tls.crt`, `tls.key`, `ca.crt`, `ca.crl`),
/// looked up first in the credentials folder, then among `kind: Secret` manifests.
public struct CredentialStore: Sendable {
    public let directory: String
    let secrets: [SecretResource]

    public init(directory: String, secrets: [SecretResource]) {
        self.directory = directory
        self.secrets = secrets
    }

    func keys(_ name: String) -> [String: [UInt8]]? {
        let folder = (directory as NSString).appendingPathComponent(name)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue {
            var out: [String: [UInt8]] = [:]
            for key in ["cert", "key", "cacert", "crl", "tls.crt", "tls.key", "ca.crt", "ca.crl"] {
                // FileManager follows the `..data` symlinks of a mounted Kubernetes volume.
                if let data = FileManager.default.contents(atPath: (folder as NSString).appendingPathComponent(key)) {
                    out[key] = Array(data)
                }
            }
            return out
        }
        return secrets.first { $0.meta.name == name }?.data
    }

    func location(_ name: String) -> String {
        let folder = (directory as NSString).appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: folder) ? folder : "Secret \(name)"
    }

    public func credential(named name: String) throws -> Credential {
        guard let keys = keys(name) else {
            throw CredentialError(
                "credential '\(name)' not found: no folder \((directory as NSString).appendingPathComponent(name)) and no Secret named \(name)"
            )
        }
        let cert: [UInt8]
        let key: [UInt8]
        if let c = keys["cert"], let k = keys["key"] {
            (cert, key) = (c, k)
        } else if let c = keys["tls.crt"], let k = keys["tls.key"] {
            (cert, key) = (c, k)
        } else {
            throw CredentialError(
                "credential '\(name)' (\(location(name))) has no tls.crt and tls.key (found: \(keys.keys.sorted().joined(separator: ", ")))"
            )
        }
        guard !cert.isEmpty, !key.isEmpty else {
            throw CredentialError("credential '\(name)' has an empty certificate or key")
        }
        var ca = keys["cacert"] ?? keys["ca.crt"]
        var crl = keys["crl"] ?? keys["ca.crl"]
        if let caKeys = self.keys("\(name)-cacert") {
            ca = caKeys["cacert"] ?? caKeys["ca.crt"] ?? ca
            crl = caKeys["crl"] ?? caKeys["ca.crl"] ?? crl
        }
        return Credential(certificateChain: cert, privateKey: key, caCertificates: ca, crl: crl, source: location(name))
    }

    /// File-mode settings (`serverCertificate`, `privateKey`, `caCertificates`, `caCrl`).
    public static func files(certificate: String, key: String, ca: String?, crl: String?, relativeTo base: String)
        throws -> Credential
    {
        func read(_ path: String) throws -> [UInt8] { try readFile(path, relativeTo: base) }
        return Credential(
            certificateChain: try read(certificate), privateKey: try read(key), caCertificates: try ca.map(read),
            crl: try crl.map(read), source: certificate)
    }
}

extension CredentialStore {
    /// One file named by a Gateway's file-mode field, relative paths resolved against the config folder.
    public static func readFile(_ path: String, relativeTo base: String) throws -> [UInt8] {
        let full = path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
        guard let data = FileManager.default.contents(atPath: full) else {
            throw CredentialError("cannot read \(full)")
        }
        return Array(data)
    }
}

public struct CredentialError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
