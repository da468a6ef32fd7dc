import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Writes lines to a file descriptor from its own serial queue, so a slow terminal or a full pipe
/// never stalls an event loop. Shared by the access log (stdout) and the diagnostic log (stderr).
///
/// What waits for the queue is bounded: a consumer that stops reading (a paused terminal, a stalled
/// journald or pipe) would otherwise make the gateway keep every line from then on, and any client can
/// make lines (a request with a 60 KB User-Agent is a 60 KB access-log line). Past `pendingLimit` new
/// lines are dropped and counted, as HAProxy drops log lines its pipe cannot take.
public final class AsyncOutput: Sendable {
    public static let standardOutput = AsyncOutput(fd: STDOUT_FILENO, label: "stdout", noticesDrops: true)
    public static let standardError = AsyncOutput(fd: STDERR_FILENO, label: "stderr", noticesDrops: false)

    static let pendingLimit = 16 << 20

    private let fd: Int32
    private let label: String
    private let queue: DispatchQueue
    private let noticesDrops: Bool
    private let state = Mutex(State())
    private let dropNotice = RateLimitedLog(intervalSeconds: 10)

    private struct State {
        var pendingBytes = 0
        var droppedLines = 0
    }

    init(fd: Int32, label: String, noticesDrops: Bool) {
        self.fd = fd
        self.label = label
        self.noticesDrops = noticesDrops
        queue = DispatchQueue(label: "tollgate.output.\(label)")
    }

    /// Lines dropped so far because the descriptor's reader fell `pendingLimit` bytes behind.
    public var droppedLines: Int { state.withLock { $0.droppedLines } }

    public func write(_ line: String) {
        write(bytes: Array(line.utf8))
    }

    public func write(bytes: [UInt8]) {
        let count = bytes.count
        let accepted = state.withLock { state in
            guard state.pendingBytes + count <= Self.pendingLimit else { return false }
            state.pendingBytes += count
            return true
        }
        guard accepted else {
            dropped(lines: max(1, bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }))
            return
        }
        let fd = self.fd
        queue.async {
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                offset += n
            }
            self.state.withLock { $0.pendingBytes -= count }
        }
    }

    private func dropped(lines: Int) {
        let total = state.withLock { state in
            state.droppedLines += lines
            return state.droppedLines
        }
        // The notice goes to the diagnostic log (stderr), never into the access log's own stream.
        guard noticesDrops, dropNotice.shouldLog() != nil else { return }
        Logger(label: "tollgate").warning(
            "log output blocked: lines dropped",
            metadata: ["output": "\(label)", "dropped.lines.total": "\(total)"])
    }

    /// Waits until everything written so far has reached the descriptor (before exiting), for at most
    /// `timeoutSeconds`: a reader that stopped for good would otherwise keep the process from ever exiting.
    /// False when the lines did not all go.
    @discardableResult
    public func flush(timeoutSeconds: Int = 5) -> Bool {
        let done = DispatchSemaphore(value: 0)
        queue.async { done.signal() }
        return done.wait(timeout: .now() + .seconds(timeoutSeconds)) == .success
    }
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
