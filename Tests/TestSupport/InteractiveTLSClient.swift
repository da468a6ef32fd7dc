import Foundation

/// `openssl s_client -quiet` kept open, so a test can send requests on one TLS connection over time.
public final class InteractiveTLSClient: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let outputURL: URL

    public init(port: Int, serverName: String, caFile: String, client: (cert: String, key: String)? = nil, directory: URL) throws {
        outputURL = directory.appendingPathComponent("s_client-\(UUID().uuidString.prefix(6)).out")
        FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: try Command.which("openssl"))
        var args = ["s_client", "-quiet", "-connect", "127.0.0.1:\(port)", "-servername", serverName, "-CAfile", caFile]
        if let client { args += ["-cert", client.cert, "-key", client.key] }
        process.arguments = args
        process.standardInput = input
        let out = try FileHandle(forWritingTo: outputURL)
        process.standardOutput = out
        process.standardError = out
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    public var output: String { (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "" }
    public var isRunning: Bool { process.isRunning }

    /// Writes to s_client's input; once it has exited (the server closed) the bytes go nowhere, and the
    /// test process is not killed by SIGPIPE for it.
    public func send(_ text: String) {
        signal(SIGPIPE, SIG_IGN)
        try? input.fileHandleForWriting.write(contentsOf: Data(text.utf8))
    }

    /// Waits (bounded) until the output contains `text` `count` times.
    public func waitFor(_ text: String, count: Int = 1, timeout: TimeInterval = 10) throws {
        try waitUntil(timeout: timeout, "'\(text)' x\(count) from s_client (got: \(output))") {
            output.components(separatedBy: text).count - 1 >= count
        }
    }
}
