import Foundation

/// A process kept running with its standard input open, so a test can drive it step by step and
/// wait (bounded) for what it prints.
public class InteractiveProcess: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let outputURL: URL

    public init(executable: String, arguments: [String], directory: URL) throws {
        // Writing to a process that has exited must fail that write, not kill the test runner.
        signal(SIGPIPE, SIG_IGN)
        outputURL = directory.appendingPathComponent("interactive-\(UUID().uuidString.prefix(6)).out")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
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

    public func send(_ text: String) {
        try? input.fileHandleForWriting.write(contentsOf: Data(text.utf8))
    }

    /// Waits (bounded) until the output contains `text` `count` times.
    public func waitFor(_ text: String, count: Int = 1, timeout: TimeInterval = 10) throws {
        try waitUntil(timeout: timeout, "'\(text)' x\(count) (got: \(output))") {
            output.components(separatedBy: text).count - 1 >= count
        }
    }
}

/// `openssl s_client -quiet` kept open, so a test can send requests on one TLS connection over time.
public final class InteractiveTLSClient: InteractiveProcess, @unchecked Sendable {
    public init(
        port: Int, serverName: String, caFile: String, client: (cert: String, key: String)? = nil,
        sendsChain: Bool = false, directory: URL
    ) throws {
        var args = [
            "s_client", "-quiet", "-connect", "127.0.0.1:\(port)", "-servername", serverName, "-CAfile", caFile,
        ]
        if let client { args += ["-cert", client.cert, "-key", client.key] }
        // `-cert` reads the file's first certificate only; `-cert_chain` sends the ones after it too.
        if let client, sendsChain { args += ["-cert_chain", client.cert] }
        try super.init(executable: try Command.which("openssl"), arguments: args, directory: directory)
    }
}
