import Foundation

/// Debian's Chromium, headless, with a fresh profile whose NSS database trusts a CA and may hold one
/// client certificate (imported from a .p12), and a managed policy that picks that certificate without a prompt.
/// Never `--ignore-certificate-errors`: the CA must really be trusted.
public final class HeadlessChromium {
    public static let binary = "/usr/lib/chromium/chromium"
    public let home: URL

    public struct Load {
        public var dom: String
        public var stderr: String
        /// The `net::ERR_…` code Chromium printed, if the load failed.
        public var netError: String? {
            stderr.range(of: #"net::ERR_[A-Z_]+"#, options: .regularExpression).map { String(stderr[$0]) }
        }
    }

    /// - Parameters:
    ///   - caCertificate: PEM file to trust for websites.
    ///   - clientP12: optional .p12 to import, with its password and the CN to auto-select for `origin`.
    public init(caCertificate: String, clientP12: (path: String, password: String, commonName: String)?, origin: String)
        throws
    {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw HarnessError(
                "\(Self.binary) is missing: scripts/test installs it (apt-get install chromium libnss3-tools)")
        }
        home = try Paths.temporaryDirectory("tollgate-chromium")
        let nssdb = home.appendingPathComponent(".pki/nssdb")
        try FileManager.default.createDirectory(at: nssdb, withIntermediateDirectories: true)
        func run(_ tool: String, _ args: [String]) throws {
            let r = try Command.run(tool, args)
            guard r.exitCode == 0 else {
                throw HarnessError("\(tool) \(args.joined(separator: " ")): \(r.stdout)\(r.stderr)")
            }
        }
        try run("certutil", ["-N", "-d", "sql:\(nssdb.path)", "--empty-password"])
        try run(
            "certutil", ["-A", "-d", "sql:\(nssdb.path)", "-t", "C,,", "-n", "tollgate-test-ca", "-i", caCertificate])
        if let p12 = clientP12 {
            try run("pk12util", ["-i", p12.path, "-d", "sql:\(nssdb.path)", "-W", p12.password])
        }
        // Without automatic selection Chromium waits forever at the certificate picker, even headless.
        // As root (CI), a managed policy `AutoSelectCertificateForUrls`, written just before each launch
        // (Chromium reads it at start-up); otherwise the equivalent profile preference, which needs no root.
        autoSelect = clientP12.map { #"{"pattern":"\#(origin)","filter":{"SUBJECT":{"CN":"\#($0.commonName)"}}}"# }
        if let p12 = clientP12, !Self.canWritePolicy {
            let prefs = home.appendingPathComponent("profile/Default")
            try FileManager.default.createDirectory(at: prefs, withIntermediateDirectories: true)
            let setting: [String: Any] = [
                "profile": [
                    "content_settings": [
                        "exceptions": [
                            "auto_select_certificate": [
                                "\(origin),*": ["setting": ["filters": [["SUBJECT": ["CN": p12.commonName]]]]]
                            ]
                        ]
                    ]
                ]
            ]
            try JSONSerialization.data(withJSONObject: setting).write(to: prefs.appendingPathComponent("Preferences"))
        }
    }

    /// One fixed file: two managed files both setting the policy conflict, and Chromium then ignores it.
    static let policyFile = URL(fileURLWithPath: "/etc/chromium/policies/managed/tollgate-test.json")
    private let autoSelect: String?

    static var canWritePolicy: Bool {
        let dir = policyFile.deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return FileManager.default.isWritableFile(atPath: dir.path)
    }

    private func writePolicy() throws {
        guard Self.canWritePolicy else { return }
        if let autoSelect {
            try JSONSerialization.data(withJSONObject: ["AutoSelectCertificateForUrls": [autoSelect]]).write(
                to: Self.policyFile)
        } else {
            try? FileManager.default.removeItem(at: Self.policyFile)
        }
    }

    deinit {
        try? FileManager.default.removeItem(at: Self.policyFile)
        try? FileManager.default.removeItem(at: home)
    }

    private func arguments(host: String) -> [String] {
        [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-proxy-server",
            "--user-data-dir=\(home.appendingPathComponent("profile").path)",
            "--host-resolver-rules=MAP \(host) 127.0.0.1",
        ]
    }

    /// A clean environment: the test runner's (LD_LIBRARY_PATH to the Swift toolchain among others) can
    /// wedge Chromium at start-up.
    private var environment: [String: String] { ["HOME": home.path, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"] }

    /// Loads `url` (its host mapped to 127.0.0.1) and returns the page text.
    public func load(_ url: String, host: String) throws -> Load {
        try writePolicy()
        let result = try Command.run(
            Self.binary, arguments(host: host) + ["--dump-dom", url], timeout: 90,
            environment: environment, inheritEnvironment: false)
        return Load(dom: result.stdout, stderr: result.stderr)
    }

    /// The same browser and profile, kept running and driven over the DevTools protocol
    /// (phone emulation, measuring the page, screenshots). Close it before launching another.
    public func devTools(host: String) throws -> ChromiumDevTools {
        try writePolicy()
        return try ChromiumDevTools(
            executable: Self.binary, arguments: arguments(host: host) + ["--remote-debugging-pipe"],
            environment: environment, stderrURL: home.appendingPathComponent("chromium-devtools.log"))
    }
}

extension GatewayHarness {
    /// Headless Chromium that trusts this harness's CA and, for a `device`, holds that device's `.p12` (the test
    /// PKI's password `tollgate`), selected automatically for `origin`.
    public func chromium(device: String?, origin: String) throws -> HeadlessChromium {
        try HeadlessChromium(
            caCertificate: pki.caCertificate,
            clientP12: device.map { (pki.directory.appendingPathComponent("\($0).p12").path, "tollgate", $0) },
            origin: origin)
    }
}
