import Foundation

public enum Paths {
    /// The repository root (two levels above this file's folder).
    public static let repository: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The built `tollgate` binary; `TOLLGATE_BIN` overrides.
    public static var tollgate: String {
        if let explicit = ProcessInfo.processInfo.environment["TOLLGATE_BIN"] { return explicit }
        for candidate in [".build/debug/tollgate", ".build/release/tollgate"] {
            let path = repository.appendingPathComponent(candidate).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return repository.appendingPathComponent(".build/debug/tollgate").path
    }

    public static func temporaryDirectory(_ prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A PKI generated once per test run by `scripts/gen-certs.sh --test` (never committed test keys).
public final class TestPKI: @unchecked Sendable {
    public static let shared: Result<TestPKI, Error> = Result { try TestPKI() }

    public let directory: URL

    private init() throws {
        directory = try Paths.temporaryDirectory("tollgate-pki")
        let script = Paths.repository.appendingPathComponent("scripts/gen-certs.sh").path
        let result = try Command.run("/bin/bash", [script, directory.path, "--test"], timeout: 120)
        guard result.exitCode == 0 else { throw HarnessError("gen-certs.sh failed: \(result.stderr)") }
    }

    public func path(_ credential: String, _ file: String) -> String {
        directory.appendingPathComponent(credential).appendingPathComponent(file).path
    }

    public var caCertificate: String { path("server-tls", "ca.crt") }

    /// `--cert X --key Y` for a client credential folder such as `jinsu-macbook-tls`.
    public func clientArguments(_ credential: String) -> [String] {
        ["--cert", path(credential, "tls.crt"), "--key", path(credential, "tls.key")]
    }
}
