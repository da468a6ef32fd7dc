import Dispatch
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Writes lines to a file descriptor from its own serial queue, so a slow terminal or a full pipe
/// never stalls an event loop. Shared by the access log (stdout) and the diagnostic log (stderr).
public final class AsyncOutput: Sendable {
    public static let standardOutput = AsyncOutput(fd: STDOUT_FILENO, label: "stdout")
    public static let standardError = AsyncOutput(fd: STDERR_FILENO, label: "stderr")

    private let fd: Int32
    private let queue: DispatchQueue

    init(fd: Int32, label: String) {
        self.fd = fd
        queue = DispatchQueue(label: "tollgate.output.\(label)")
    }

    public func write(_ line: String) {
        write(bytes: Array(line.utf8))
    }

    public func write(bytes: [UInt8]) {
        let fd = self.fd
        queue.async {
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                offset += n
            }
        }
    }

    /// Waits until everything written so far has reached the descriptor (before exiting).
    public func flush() { queue.sync {} }
}

/// swift-log's stream format (`timestamp level label: metadata [source] message`), written asynchronously.
public struct AsyncLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let output: AsyncOutput

    public init(label: String, level: Logger.Level, output: AsyncOutput = .standardError) {
        self.label = label
        logLevel = level
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let rendered =
            merged.isEmpty
            ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        output.write("\(Clock.isoTimestamp()) \(event.level) \(label):\(rendered) [\(event.source)] \(event.message)\n")
    }
}
