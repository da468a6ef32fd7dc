import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Watches the configuration and credential folders by polling a fingerprint (path, inode, size,
/// modification time of every file, symlinks followed) once a second, off the event loops. Polling
/// sees a Kubernetes ConfigMap/Secret volume's `..data` symlink swap like any other change. A change is
/// acted on once the fingerprint has been stable for one interval, so a half-written file is not loaded.
final class ConfigWatcher: @unchecked Sendable {
    private let paths: [String]
    private let queue = DispatchQueue(label: "tollgate.config-watcher")
    private var timer: DispatchSourceTimer?
    private var loaded: [String: String]
    private var previous: [String: String]
    private let onChange: @Sendable () -> Void

    init(paths: [String], onChange: @escaping @Sendable () -> Void) {
        self.paths = paths
        self.onChange = onChange
        loaded = ConfigWatcher.fingerprint(paths)
        previous = loaded
    }

    func start(intervalMilliseconds: Int = 1000) {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(
            deadline: .now() + .milliseconds(intervalMilliseconds), repeating: .milliseconds(intervalMilliseconds),
            leeway: .milliseconds(100))
        timer.setEventHandler { [weak self] in self?.poll() }
        timer.resume()
        self.timer = timer
    }

    func stop() { timer?.cancel() }

    private func poll() {
        let current = ConfigWatcher.fingerprint(paths)
        defer { previous = current }
        guard current != loaded, current == previous else { return }
        loaded = current
        onChange()
    }

    /// Every regular file under `paths` (three levels deep), keyed by path.
    static func fingerprint(_ paths: [String]) -> [String: String] {
        var result: [String: String] = [:]
        func visit(_ path: String, depth: Int) {
            var info = stat()
            guard stat(path, &info) == 0 else { return }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                guard depth < 3, let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else {
                    return
                }
                for entry in entries { visit((path as NSString).appendingPathComponent(entry), depth: depth + 1) }
            } else {
                result[path] = "\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
            }
        }
        for path in paths { visit(path, depth: 0) }
        return result
    }
}
