import Foundation

/// Runs a command to completion and captures its output. Bounded by `timeout` seconds.
public struct CommandResult: Sendable {
    public var exitCode: Int32
    public var stdout: String
    public var stderr: String
    public var stdoutData: Data
}

public enum Command {
    @discardableResult
    /// `environment` is added to the inherited one, or replaces it with `inheritEnvironment: false`.
    public static func run(
        _ executable: String, _ arguments: [String], input: Data? = nil, timeout: TimeInterval = 60,
        environment: [String: String]? = nil, inheritEnvironment: Bool = true
    ) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : try which(executable))
        process.arguments = arguments
        if let environment {
            process.environment =
                inheritEnvironment ? ProcessInfo.processInfo.environment.merging(environment) { $1 } : environment
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-cmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outURL = dir.appendingPathComponent("out")
        let errURL = dir.appendingPathComponent("err")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        let inputPipe = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : inputPipe
        try process.run()
        if let input {
            // A process that exits without reading (a rejected option) must fail its test, not end the runner.
            signal(SIGPIPE, SIG_IGN)
            try? inputPipe.fileHandleForWriting.write(contentsOf: input)
            try? inputPipe.fileHandleForWriting.close()
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw HarnessError("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout)s")
        }
        let out = (try? Data(contentsOf: outURL)) ?? Data()
        let err = (try? Data(contentsOf: errURL)) ?? Data()
        return CommandResult(
            exitCode: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: err, as: UTF8.self), stdoutData: out)
    }

    public static func which(_ name: String) throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw HarnessError("\(name) not found on PATH")
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A long-running child process (gateway, upstream) whose output goes to a log file; killed on `stop`.
public final class ManagedProcess: @unchecked Sendable {
    public let process = Process()
    public let logURL: URL
    public let name: String

    /// Standard output and error go to `<name>.log`, or standard output to `standardOutput` when given.
    public init(
        name: String, executable: String, arguments: [String], logDirectory: URL, standardOutput: FileHandle? = nil
    ) throws {
        self.name = name
        logURL = logDirectory.appendingPathComponent("\(name).log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let handle = try FileHandle(forWritingTo: logURL)
        process.standardOutput = standardOutput ?? handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
public func waitUntil(timeout: TimeInterval = 10, _ what: String, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return }
        usleep(20_000)
    }
    throw HarnessError("timed out after \(timeout)s waiting for \(what)")
}
