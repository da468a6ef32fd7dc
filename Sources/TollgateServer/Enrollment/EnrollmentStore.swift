import Foundation
import TollgateCore
import TollgateTLS

/// One device's enrollment waiting for its link to be used: written by `tollgate certs enroll`, served
/// and burned by the gateway. The token itself is never stored, only its SHA-256 (the file's name).
public struct PendingEnrollment: Codable, Sendable, Equatable {
    /// The credential folder name the certificate was issued under.
    public var name: String
    public var principal: String
    /// When the link stops working (seconds since 1970).
    public var expires: Int64
    public var certificateNotAfter: Int64
    /// The `.p12`, base64; its password was shown once, to whoever ran `certs enroll`.
    public var bundle: String
    /// The issuing CA's certificate (PEM), for platforms that install it apart from the bundle.
    public var caCertificate: String

    public init(
        name: String, principal: String, expires: Int64, certificateNotAfter: Int64, bundle: [UInt8],
        caCertificate: [UInt8]
    ) {
        self.name = name
        self.principal = principal
        self.expires = expires
        self.certificateNotAfter = certificateNotAfter
        self.bundle = Base64.encode(bundle)
        self.caCertificate = String(decoding: caCertificate, as: UTF8.self)
    }
}

/// The folder of pending enrollments (`CREDENTIALS/enrollments`), one `SHA256HEX.json` file each, mode
/// 0600. Single use holds across loops and gateway replicas sharing the folder: the bundle is handed
/// out only by whoever renames its file away first (`rename(2)` is atomic), and the file is gone after.
public struct EnrollmentStore: Sendable {
    public static let folderName = "enrollments"
    /// More pending links than this are not looked at: a bound on the work one attempt can cause.
    static let maxPending = 1024

    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public enum Lookup: Sendable, Equatable {
        case found(PendingEnrollment)
        case unknown
        case expired(PendingEnrollment)
        /// The folder cannot be read or the link cannot be burned: nothing is handed out.
        case unavailable(String)
    }

    /// A fresh token (32 random bytes, base64url) and the hash it is stored under.
    public static func newToken() -> (token: String, hash: String) {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let token = Base64.encode(bytes).replacingOccurrences(of: "+", with: "-").replacingOccurrences(
            of: "/", with: "_"
        ).replacingOccurrences(of: "=", with: "")
        return (token, hash(token))
    }

    public static func hash(_ token: String) -> String {
        let digest = SHA256Digest()
        digest.update(Array(token.utf8))
        return digest.finalizeHex()
    }

    /// Writes a pending enrollment (`certs enroll`): to a temporary name first, so the gateway never
    /// reads half a file.
    public func add(_ pending: PendingEnrollment, tokenHash: String) throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(pending)
        let temporary = path(".\(tokenHash).tmp")
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600])
        else { throw EnrollmentStoreError("cannot write \(temporary)") }
        guard rename(temporary, path("\(tokenHash).json")) == 0 else {
            unlink(temporary)
            throw EnrollmentStoreError("cannot write \(path("\(tokenHash).json")): \(String(cString: strerror(errno)))")
        }
    }

    /// The pending enrollment a token opens, leaving it in place (the instructions page, the CA).
    public func look(token: String, now: Int64) -> Lookup {
        switch locate(token) {
        case .failure(let failure): return .unavailable(failure.reason)
        case .success(nil): return .unknown
        case .success(let file?):
            guard let pending = read(file) else { return .unknown }
            return pending.expires > now ? .found(pending) : burnExpired(file, pending)
        }
    }

    /// Hands the pending enrollment out once and burns it: the token opens nothing afterwards.
    public func claim(token: String, now: Int64) -> Lookup {
        switch locate(token) {
        case .failure(let failure): return .unavailable(failure.reason)
        case .success(nil): return .unknown
        case .success(let file?):
            var generator = SystemRandomNumberGenerator()
            let claimed = file + ".claimed-\(UInt64.random(in: 0...UInt64.max, using: &generator))"
            guard rename(file, claimed) == 0 else {
                // Another request (or replica) claimed it a moment ago.
                if errno == ENOENT { return .unknown }
                return .unavailable("cannot burn \(file): \(String(cString: strerror(errno)))")
            }
            let pending = read(claimed)
            unlink(claimed)
            guard let pending else { return .unknown }
            return pending.expires > now ? .found(pending) : .expired(pending)
        }
    }

    /// Removes links that expired unused; returns their names (`certs enroll` reports them).
    public func removeExpired(now: Int64) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var removed: [String] = []
        for entry in entries where entry.hasSuffix(".json") {
            let file = path(entry)
            if let pending = read(file), pending.expires <= now, unlink(file) == 0 { removed.append(pending.name) }
        }
        return removed
    }

    /// The file whose name is the token's hash. Every pending name is compared in full and in constant
    /// time, so how long an attempt takes says nothing about how close a guess came.
    private func locate(_ token: String) -> Result<String?, EnrollmentLookupFailure> {
        let wanted = Array(Self.hash(token).utf8)
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            if !FileManager.default.fileExists(atPath: directory) { return .success(nil) }
            return .failure(EnrollmentLookupFailure("cannot read \(directory): \(error.localizedDescription)"))
        }
        var match: String?
        for entry in entries.prefix(Self.maxPending) where entry.utf8.count == 69 && entry.hasSuffix(".json") {
            if Self.constantTimeEqual(Array(entry.utf8.prefix(64)), wanted) { match = entry }
        }
        return .success(match.map(path))
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    private func burnExpired(_ file: String, _ pending: PendingEnrollment) -> Lookup {
        unlink(file)
        return .expired(pending)
    }

    private func read(_ file: String) -> PendingEnrollment? {
        guard let data = FileManager.default.contents(atPath: file), data.count < 1 << 20 else { return nil }
        return try? JSONDecoder().decode(PendingEnrollment.self, from: data)
    }

    private func path(_ entry: String) -> String { (directory as NSString).appendingPathComponent(entry) }
}

struct EnrollmentLookupFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

public struct EnrollmentStoreError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
