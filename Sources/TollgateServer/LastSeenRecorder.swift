import Dispatch
import Foundation
import Synchronization

/// When each client certificate last completed a handshake, for `tollgate certs list`: recorded on the
/// loops (a dictionary update under a lock, no I/O) and written off the loops once a second when
/// something changed, atomically (temporary file + rename). Bounded: past `limit` certificates the
/// longest unseen are forgotten.
public final class LastSeenRecorder: @unchecked Sendable {
    private let path: String
    private let limit: Int
    private let state: Mutex<(seen: [String: Int64], dirty: Bool)>
    private let queue = DispatchQueue(label: "tollgate.last-seen")
    /// Set once by `start`, before any loop records.
    private var timer: DispatchSourceTimer?

    /// Reads what an earlier run recorded, so a restart keeps the history.
    public init(path: String, limit: Int = 10_000) {
        self.path = path
        self.limit = limit
        state = Mutex(((try? LastSeenFile.read(path)) ?? [:], false))
    }

    /// Called on an event loop after a handshake with a verified client certificate.
    func saw(certificateSHA256 sha256: String, at seconds: Int64 = Int64(time(nil))) {
        state.withLock { state in
            // Seen this minute already: nothing worth a write.
            if let previous = state.seen[sha256], seconds - previous < 60 { return }
            state.seen[sha256] = seconds
            state.dirty = true
        }
    }

    public func start(intervalSeconds: Int = 1) {
        let source = DispatchSource.makeTimerSource(queue: queue)
        source.schedule(
            deadline: .now() + .seconds(intervalSeconds), repeating: .seconds(intervalSeconds), leeway: .seconds(1))
        source.setEventHandler { [weak self] in self?.flush() }
        source.resume()
        timer = source
    }

    /// Writes the file if anything changed since the last write.
    public func flush() {
        let snapshot: [String: Int64]? = state.withLock { state in
            guard state.dirty else { return nil }
            if state.seen.count > limit {
                for (key, _) in state.seen.sorted(by: { $0.value < $1.value }).prefix(state.seen.count - limit) {
                    state.seen.removeValue(forKey: key)
                }
            }
            state.dirty = false
            return state.seen
        }
        guard let snapshot else { return }
        try? LastSeenFile.write(snapshot, to: path)
    }
}

/// The last-seen file: `{"version":1,"seen":{"<certificate sha256>":<seconds since 1970>}}`.
public enum LastSeenFile {
    struct Contents: Codable {
        var version = 1
        var seen: [String: Int64]
    }

    public static func read(_ path: String) throws -> [String: Int64] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        return try JSONDecoder().decode(Contents.self, from: data).seen
    }

    static func write(_ seen: [String: Int64], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(Contents(seen: seen))
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o644]),
            rename(temporary, path) == 0
        else { throw CocoaError(.fileWriteUnknown) }
    }
}
