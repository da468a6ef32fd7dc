import Foundation

/// Starts a demo upstream and the real `tollgate` binary on free ports with the given YAML, and
/// drives it with real `curl` / `openssl`. Everything it starts is stopped by `stop()` (or deinit).
public final class GatewayHarness: @unchecked Sendable {
    public let pki: TestPKI
    public let workDirectory: URL
    public let configDirectory: URL
    public private(set) var upstreams: [String: (process: ManagedProcess, port: Int)] = [:]
    public private(set) var gateway: ManagedProcess?
    /// Declared Gateway port → the free port it listens on.
    public private(set) var ports: [Int: Int] = [:]

    public init() throws {
        pki = try TestPKI.shared.get()
        workDirectory = try Paths.temporaryDirectory("tollgate-test")
        configDirectory = workDirectory.appendingPathComponent("config")
        try FileManager.default.createDirectory(at: configDirectory, withIntermediateDirectories: true)
    }

    deinit { stop() }

    /// The common set-up: a demo upstream named `server`, one Gateway server on 443 in `mode` for the
    /// walkthrough's host, a VirtualService sending everything to `server:80`, and the gateway running.
    public static func running(mode: String, extraArguments: [String] = []) throws -> GatewayHarness {
        let harness = try GatewayHarness()
        try harness.startUpstream()
        try harness.write("gw.yaml", Manifests.gateway(mode: mode))
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.startGateway(extraArguments: extraArguments)
        return harness
    }

    public func stop() {
        gateway?.stop()
        for (_, u) in upstreams { u.process.stop() }
        upstreams = [:]
        try? FileManager.default.removeItem(at: workDirectory)
    }

    /// Writes `yaml` to `config/name`.
    public func write(_ name: String, _ yaml: String) throws {
        try yaml.write(to: configDirectory.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    /// Copies a manifest of the walkthrough (Tests/Fixtures/seed), verbatim, into the config folder.
    public func copySeed(_ name: String, as target: String? = nil) throws {
        let seed = Paths.repository.appendingPathComponent("Tests/Fixtures/seed").appendingPathComponent(name)
        try write(target ?? name, try String(contentsOf: seed, encoding: .utf8))
    }

    /// The demo upstream's `/stats`: connections it accepted, requests it is answering right now, requests it
    /// received before this probe (each probe is one more).
    public func upstreamStats(_ name: String = "server") throws -> (connections: Int, inProgress: Int, requests: Int) {
        let port = upstreams[name]!.port
        let text = try Command.run("curl", ["-sS", "http://127.0.0.1:\(port)/stats"]).stdout
        func number(_ key: String) -> Int {
            Int(text.components(separatedBy: "\"\(key)\": ").last?.prefix { $0.isNumber } ?? "") ?? -1
        }
        return (number("connections"), number("inProgress"), number("requests"))
    }

    public func remove(_ name: String) throws {
        try FileManager.default.removeItem(at: configDirectory.appendingPathComponent(name))
    }

    /// Starts `tollgate demo-upstream` as service `name` on a free port; it tells who answered as
    /// `answeringAs` (default: `name`).
    @discardableResult
    public func startUpstream(_ name: String = "server", answeringAs: String? = nil) throws -> Int {
        let port = try Network.freePort()
        let process = try ManagedProcess(
            name: "upstream-\(name)", executable: Paths.tollgate,
            arguments: ["demo-upstream", "--port", String(port), "--name", answeringAs ?? name],
            logDirectory: workDirectory)
        try Network.waitForListening(port, process: process)
        upstreams[name] = (process, port)
        return port
    }

    /// Starts a Python fixture (`python3 Tests/Fixtures/SCRIPT PORT ARGUMENTS…`) on a free port as service
    /// `name`: mapped and stopped like the demo upstream. Returns the process, for its log.
    @discardableResult
    public func startFixtureUpstream(_ script: String, name: String, arguments: [String] = []) throws -> ManagedProcess
    {
        let port = try Network.freePort()
        let process = try ManagedProcess(
            name: name, executable: try Command.which("python3"),
            arguments: [Paths.repository.appendingPathComponent("Tests/Fixtures/\(script)").path, String(port)]
                + arguments,
            logDirectory: workDirectory)
        upstreams[name] = (process, port)
        try Network.waitForListening(port, process: process)
        return process
    }

    /// Whether real httpbin (PyPI `httpbin` + `gunicorn`) can be started here.
    public static var httpbinAvailable: Bool {
        (try? Command.run("python3", ["-c", "import httpbin, gunicorn"]).exitCode) == 0
    }

    /// Starts real httpbin under gunicorn as upstream `name`.
    @discardableResult
    public func startHTTPBin(_ name: String = "server") throws -> Int {
        let port = try Network.freePort()
        let process = try ManagedProcess(
            name: "httpbin-\(name)", executable: try Command.which("python3"),
            arguments: ["-m", "gunicorn", "-b", "127.0.0.1:\(port)", "-w", "2", "httpbin:app"],
            logDirectory: workDirectory)
        try Network.waitForListening(port, process: process, timeout: 30)
        upstreams[name] = (process, port)
        return port
    }

    public func stopUpstream(_ name: String) {
        upstreams.removeValue(forKey: name)?.process.stop()
    }

    /// Starts the gateway; `declaredPorts` are the Gateway ports to remap to free ones.
    /// Each started upstream is mapped with `--service NAME=127.0.0.1:PORT`. With `fileLimit` it runs
    /// under `prlimit --nofile` (its descriptor limit, as `ulimit -n` sets it); with `standardOutput` the
    /// access log goes there instead of the gateway's log file.
    public func startGateway(
        declaredPorts: [Int] = [443], extraArguments: [String] = [], services: [String: Int] = [:],
        credentials: String? = nil, fileLimit: Int? = nil, standardOutput: FileHandle? = nil
    ) throws {
        var arguments = [
            "serve", "--config", configDirectory.path, "--credentials", credentials ?? pki.directory.path, "--loops",
            "2",
            "--log-level", "debug",
        ]
        for declared in declaredPorts {
            let port = try Network.freePort()
            ports[declared] = port
            arguments += ["--port-map", "\(declared)=\(port)"]
        }
        for (name, upstream) in upstreams { arguments += ["--service", "\(name)=127.0.0.1:\(upstream.port)"] }
        for (name, port) in services { arguments += ["--service", "\(name)=127.0.0.1:\(port)"] }
        arguments += extraArguments
        var executable = Paths.tollgate
        if let fileLimit {
            arguments = ["--nofile=\(fileLimit):\(fileLimit)", executable] + arguments
            executable = try Command.which("prlimit")
        }
        let process = try ManagedProcess(
            name: "gateway", executable: executable, arguments: arguments, logDirectory: workDirectory,
            standardOutput: standardOutput)
        gateway = process
        for port in ports.values { try Network.waitForListening(port, process: process) }
    }

    public func port(_ declared: Int = 443) -> Int { ports[declared] ?? declared }

    /// The hex SHA-256 of a file, as `sha256sum` prints it.
    public func sha256(_ path: String) throws -> String {
        String(try Command.run("sha256sum", [path]).stdout.prefix(64))
    }

    /// A file of `bytes` random bytes in the work directory.
    public func randomFile(bytes: Int) throws -> String {
        let path = workDirectory.appendingPathComponent("payload-\(bytes).bin").path
        var generator = SystemRandomNumberGenerator()
        var words = [UInt64](repeating: 0, count: (bytes + 7) / 8)
        for i in words.indices { words[i] = generator.next() }
        let data = words.withUnsafeBytes { Data($0.prefix(bytes)) }
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// How many times the gateway has logged a finished reload.
    public var reloadCount: Int { (gateway?.log.components(separatedBy: "configuration reloaded").count ?? 1) - 1 }

    /// Waits (bounded) until the gateway has reloaded more than `count` times.
    public func waitForReload(after count: Int, timeout: TimeInterval = 45) throws {
        try waitUntil(timeout: timeout, "the gateway to reload") { reloadCount > count }
    }

    /// `curl` against `https://host:<mapped port>path`, resolving `host` to 127.0.0.1.
    /// Output: body on stdout; `-w` adds the status after a newline marker.
    public func curl(
        _ path: String, host: String = "istio-server-mtls.dev.lab.jinsu.me", declaredPort: Int = 443,
        scheme: String = "https", client: String? = "jinsu-macbook-tls", trustCA: Bool = true,
        arguments: [String] = [], output: String = "-", timeout: TimeInterval = 60
    ) throws -> CurlResult {
        let port = self.port(declaredPort)
        var args = [
            "-sS", "--resolve", "\(host):\(port):127.0.0.1", "-o", output, "-w", "\n%{http_code} %{num_connects}",
        ]
        if scheme == "https" && trustCA { args += ["--cacert", pki.caCertificate] }
        if let client { args += pki.clientArguments(client) }
        // HTTP/1.1 unless a test asks for HTTP/2: most tests assert HTTP/1.1 framing, access-log lines and
        // connection reuse, and curl would otherwise choose h2 by ALPN. Tests/IntegrationTests/HTTP2Tests pass --http2.
        if scheme == "https" && !arguments.contains(where: { $0.hasPrefix("--http2") }) { args.append("--http1.1") }
        args += arguments
        args.append("\(scheme)://\(host):\(port)\(path)")
        let result = try Command.run("curl", args, timeout: timeout)
        return CurlResult(result)
    }

    /// An `openssl s_client` kept open on the gateway, for requests sent one by one on one TLS connection.
    public func interactiveClient(
        _ client: String? = "jinsu-macbook-tls", serverName: String = Manifests.host,
        declaredPort: Int = 443
    ) throws -> InteractiveTLSClient {
        try InteractiveTLSClient(
            port: port(declaredPort), serverName: serverName, caFile: pki.caCertificate,
            client: client.map { (pki.path($0, "tls.crt"), pki.path($0, "tls.key")) }, directory: workDirectory)
    }

    /// Sends raw bytes over TLS with `openssl s_client -quiet` and returns what came back before the server
    /// closed; throws when the server has not closed within `timeout` seconds.
    public func raw(
        _ request: String, client: String? = "jinsu-macbook-tls", serverName: String = Manifests.host,
        declaredPort: Int = 443, timeout: TimeInterval = 30
    ) throws -> String {
        var args = [
            "s_client", "-quiet", "-connect", "127.0.0.1:\(port(declaredPort))", "-servername", serverName,
            "-CAfile", pki.caCertificate,
        ]
        if let client { args += ["-cert", pki.path(client, "tls.crt"), "-key", pki.path(client, "tls.key")] }
        return try Command.run("openssl", args, input: Data(request.utf8), timeout: timeout).stdout
    }
}

/// What a `curl -w '\n%{http_code} %{num_connects}'` run printed.
public struct CurlResult: Sendable {
    public var exitCode: Int32
    public var body: String
    public var status: Int
    public var stderr: String
    /// What `-w` printed after the body's last newline (e.g. `200 1`).
    public var stdoutTail: String

    init(_ r: CommandResult) {
        exitCode = r.exitCode
        stderr = r.stderr
        let text = r.stdout
        stdoutTail = text.lastIndex(of: "\n").map { String(text[text.index(after: $0)...]) } ?? ""
        if let newline = text.lastIndex(of: "\n") {
            body = String(text[..<newline])
            let tail = text[text.index(after: newline)...].split(separator: " ")
            status = Int(tail.first ?? "") ?? 0
        } else {
            body = text
            status = 0
        }
    }
}
