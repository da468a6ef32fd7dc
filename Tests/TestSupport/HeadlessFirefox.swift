import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Debian's Firefox ESR, headless, with a fresh profile whose NSS database (`cert9.db`) trusts a CA and may
/// hold one client certificate, sent without asking (`security.default_personal_cert`). Every name resolves to
/// 127.0.0.1 (`network.dns.forceResolve`) and `MOZ_DISABLE_NONLOCAL_CONNECTIONS` keeps it on loopback.
/// Driven over Marionette (length-prefixed JSON on a local TCP port): a phone is a content area 390 CSS
/// pixels wide with `dom.meta-viewport.enabled`, which is how Firefox for Android lays pages out.
public final class HeadlessFirefox: PageDriver {
    public static let binary = "/usr/lib/firefox-esr/firefox-esr"
    public let home: URL
    private let profile: URL
    private let process = Process()
    private let logURL: URL
    private var socket: Int32 = -1
    private var buffer: [UInt8] = []
    private var nextID = 0
    private var closed = false

    public init(caCertificate: String, clientP12: (path: String, password: String)?) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw HarnessError("\(Self.binary) is missing: scripts/test installs it (apt-get install firefox-esr)")
        }
        home = try Paths.temporaryDirectory("tollgate-firefox")
        profile = home.appendingPathComponent("profile")
        logURL = home.appendingPathComponent("firefox.log")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        func run(_ tool: String, _ args: [String]) throws {
            let r = try Command.run(tool, args)
            guard r.exitCode == 0 else {
                throw HarnessError("\(tool) \(args.joined(separator: " ")): \(r.stdout)\(r.stderr)")
            }
        }
        let db = "sql:\(profile.path)"
        try run("certutil", ["-N", "-d", db, "--empty-password"])
        try run("certutil", ["-A", "-d", db, "-t", "C,,", "-n", "tollgate-test-ca", "-i", caCertificate])
        if let p12 = clientP12 { try run("pk12util", ["-i", p12.path, "-d", db, "-W", p12.password]) }
        let preferences: [(String, String)] = [
            ("security.default_personal_cert", "\"Select Automatically\""),
            ("network.dns.forceResolve", "\"127.0.0.1\""),
            ("dom.meta-viewport.enabled", "true"),
            ("ui.useOverlayScrollbars", "1"),
            ("marionette.port", "0"),
            ("browser.shell.checkDefaultBrowser", "false"),
            ("browser.aboutwelcome.enabled", "false"),
            ("browser.startup.homepage_override.mstone", "\"ignore\""),
            ("datareporting.policy.dataSubmissionEnabled", "false"),
            ("toolkit.telemetry.reportingpolicy.firstRun", "false"),
        ]
        try preferences.map { "user_pref(\"\($0.0)\", \($0.1));\n" }.joined()
            .write(to: profile.appendingPathComponent("user.js"), atomically: true, encoding: .utf8)

        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        // System access lets the test narrow the content area below Firefox's 500-pixel minimum window.
        process.arguments = [
            "--headless", "--no-remote", "--marionette", "-remote-allow-system-access", "--profile", profile.path,
            "about:blank",
        ]
        process.environment = [
            "HOME": home.path, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MOZ_DISABLE_NONLOCAL_CONNECTIONS": "1",
        ].merging(
            // Firefox's own logging and key log, for reading a browser test's handshakes (README).
            ProcessInfo.processInfo.environment.filter {
                ["MOZ_LOG", "MOZ_LOG_FILE", "SSLKEYLOGFILE"].contains($0.key)
            }
        ) { $1 }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        do {
            try connect()
            _ = try receive("Marionette's greeting")
            try call("WebDriver:NewSession", ["capabilities": ["alwaysMatch": ["acceptInsecureCerts": false]]])
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
        try? FileManager.default.removeItem(at: home)
    }

    public var stderrTail: String { String(((try? String(contentsOf: logURL, encoding: .utf8)) ?? "").suffix(2000)) }

    /// Firefox writes the port it listens on into the profile once Marionette is ready.
    private func connect() throws {
        let portFile = profile.appendingPathComponent("MarionetteActivePort")
        var port: UInt16 = 0
        try waitUntil(timeout: 30, "Firefox's Marionette port") {
            port =
                UInt16(
                    (try? String(contentsOf: portFile, encoding: .utf8))?.trimmingCharacters(
                        in: .whitespacesAndNewlines) ?? "") ?? 0
            return port != 0 || !process.isRunning
        }
        guard port != 0 else { throw HarnessError("Firefox exited before Marionette started: \(stderrTail)") }
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard status == 0 else { throw HarnessError("connecting to Marionette on \(port): errno \(errno)") }
    }

    /// One command, `[0, id, name, parameters]`; its reply is `[1, id, error, result]`.
    @discardableResult
    public func call(_ name: String, _ parameters: [String: Any] = [:], timeout: TimeInterval = 30) throws -> [String:
        Any]
    {
        nextID += 1
        let id = nextID
        let body = try JSONSerialization.data(withJSONObject: [0, id, name, parameters] as [Any])
        let bytes = Array("\(body.count):".utf8) + body
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw HarnessError("writing to Marionette: errno \(errno); \(stderrTail)") }
            written += n
        }
        while true {
            guard let reply = try receive("the reply to \(name)", timeout: timeout) as? [Any], reply.count == 4 else {
                continue
            }
            guard reply[1] as? Int == id else { continue }
            if let error = reply[2] as? [String: Any] {
                throw MarionetteError(
                    error: error["error"] as? String ?? "", message: error["message"] as? String ?? "")
            }
            return reply[3] as? [String: Any] ?? [:]
        }
    }

    public struct MarionetteError: Error, CustomStringConvertible {
        public var error: String
        public var message: String
        public var description: String { "\(error): \(message)" }
    }

    /// The phone: Firefox's window is at least 500 pixels wide, so the content area itself is narrowed (as
    /// Firefox's responsive design mode does); the desktop: the window at that size.
    public func load(_ url: String, viewport: BrowserViewport, timeout: Double) throws -> String? {
        try call("WebDriver:SetWindowRect", ["width": max(viewport.width, 500), "height": viewport.height])
        try call("Marionette:SetContext", ["value": "chrome"])
        let width = viewport.mobile ? "\(viewport.width)px" : ""
        try call(
            "WebDriver:ExecuteScript",
            [
                "script": """
                const b = gBrowser.selectedBrowser;
                b.style.minWidth = '\(width)'; b.style.maxWidth = '\(width)';
                """, "args": [Any](),
            ])
        try call("Marionette:SetContext", ["value": "content"])
        do {
            try call("WebDriver:Navigate", ["url": url], timeout: timeout)
            return nil
        } catch let error as MarionetteError where error.message.hasPrefix("Reached error page: ") {
            // about:neterror?e=nssFailure2&… or about:certerror?e=nssBadCert&…: the `e` names the failure.
            let page = error.message.dropFirst("Reached error page: ".count)
            return URLComponents(string: String(page))?.queryItems?.first { $0.name == "e" }?.value ?? String(page)
        }
    }

    public func evaluate(_ expression: String) throws -> Any? {
        try call("WebDriver:ExecuteScript", ["script": "return (\(expression));", "args": [Any]()])["value"]
    }

    public func close() {
        guard !closed else { return }
        closed = true
        if socket >= 0 {
            _ = try? call("Marionette:Quit", ["flags": ["eForceQuit"]], timeout: 10)
            Glibc.close(socket)
        }
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    private func receive(_ what: String, timeout: TimeInterval = 30) throws -> Any {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let colon = buffer.firstIndex(of: UInt8(ascii: ":")),
                let length = Int(String(decoding: buffer[..<colon], as: UTF8.self)),
                buffer.count > colon + length
            {
                let body = Data(buffer[(colon + 1)...(colon + length)])
                buffer.removeSubrange(...(colon + length))
                return try JSONSerialization.jsonObject(with: body)
            }
            guard
                try readSome(
                    socket, into: &buffer, until: deadline,
                    closed: "Marionette closed the connection while waiting for \(what); \(stderrTail)")
            else {
                throw HarnessError("timed out after \(timeout)s waiting for \(what); \(stderrTail)")
            }
        }
    }
}
