import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: it reads
/// commands on fd 3 and writes replies and events on fd 4, each JSON message ended by a NUL byte), for
/// what `--dump-dom` cannot do: emulate a phone (the page's `<meta name="viewport">` is honoured as on
/// a phone, so a page without one is laid out 980 px wide), measure the laid-out page, take screenshots.
/// Not thread-safe: one test drives it; every wait is bounded.
public final class ChromiumDevTools: PageDriver {
    private let pid: pid_t
    private let commands: Int32
    private let replies: Int32
    private var buffer: [UInt8] = []
    private var events: [[String: Any]] = []
    private var nextID = 0
    private var sessionID = ""
    private var closed = false
    private var viewport: BrowserViewport?
    public let stderrURL: URL

    init(executable: String, arguments: [String], environment: [String: String], stderrURL: URL) throws {
        self.stderrURL = stderrURL
        // A browser that dies mid-command must fail the test with an error, not end the test process.
        signal(SIGPIPE, SIG_IGN)
        var toBrowser: [Int32] = [0, 0]
        var fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else { throw HarnessError("pipe: \(errno)") }
        // Every end moved above 10 with close-on-exec: dup2 onto 3 and 4 then clears it there only, and no end
        // is already 3 or 4 (where dup2 would be a no-op and leave it set).
        func high(_ fd: Int32) -> Int32 {
            let moved = fcntl(fd, F_DUPFD_CLOEXEC, 10)
            Glibc.close(fd)
            return moved
        }
        let browserReads = high(toBrowser[0])
        let browserWrites = high(fromBrowser[1])
        commands = high(toBrowser[1])
        replies = high(fromBrowser[0])

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, browserReads, 3)
        posix_spawn_file_actions_adddup2(&actions, browserWrites, 4)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stderrURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so its helpers (zygote, GPU, renderers) can be ended together if it hangs.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        Glibc.close(browserReads)
        Glibc.close(browserWrites)
        guard status == 0 else {
            Glibc.close(commands)
            Glibc.close(replies)
            throw HarnessError("posix_spawn \(executable): \(status)")
        }
        pid = child
        let target = try call("Target.createTarget", ["url": "about:blank"], session: false)
        guard let targetID = target["targetId"] as? String else { throw HarnessError("no target: \(target)") }
        let attached = try call("Target.attachToTarget", ["targetId": targetID, "flatten": true], session: false)
        sessionID = attached["sessionId"] as? String ?? ""
        _ = try call("Page.enable")
    }

    deinit { close() }

    /// Sends one command and waits (bounded) for its reply; a protocol error is thrown.
    @discardableResult
    public func call(
        _ method: String, _ parameters: [String: Any] = [:], session: Bool = true, timeout: TimeInterval = 30
    ) throws -> [String: Any] {
        nextID += 1
        let id = nextID
        var message: [String: Any] = ["id": id, "method": method, "params": parameters]
        if session { message["sessionId"] = sessionID }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(commands, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw HarnessError("writing to Chromium: errno \(errno); \(stderrTail)") }
            written += n
        }
        let reply = try receive(timeout: timeout, "the reply to \(method)") { $0["id"] as? Int == id }
        if let error = reply["error"] { throw HarnessError("\(method): \(error)") }
        return reply["result"] as? [String: Any] ?? [:]
    }

    /// Navigates at `viewport` and waits for the load event. Returns Chromium's `net::ERR_…` text when the
    /// load failed (Chromium then shows its own error page, whose text `evaluate` can read).
    public func load(_ url: String, viewport: BrowserViewport, timeout: TimeInterval = 30) throws -> String? {
        try call(
            "Emulation.setDeviceMetricsOverride",
            [
                "width": viewport.width, "height": viewport.height,
                "deviceScaleFactor": viewport.scale, "mobile": viewport.mobile,
            ])
        self.viewport = viewport
        events.removeAll()
        let navigation = try call("Page.navigate", ["url": url], timeout: timeout)
        _ = try receive(timeout: timeout, "the load event of \(url)") {
            $0["method"] as? String == "Page.loadEventFired"
        }
        return (navigation["errorText"] as? String).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The value of a JavaScript expression in the page (JSON-able values only).
    public func evaluate(_ expression: String) throws -> Any? {
        let result = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let exception = result["exceptionDetails"] { throw HarnessError("\(expression): \(exception)") }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// A PNG of the whole page (not only the first screen), at the viewport's device pixel ratio.
    public func screenshot() throws -> Data {
        let metrics = try call("Page.getLayoutMetrics")
        let content = metrics["cssContentSize"] as? [String: Any] ?? [:]
        let visual = metrics["cssVisualViewport"] as? [String: Any] ?? [:]
        let width = Double(viewport?.width ?? 0) > 0 ? Double(viewport!.width) : (visual["clientWidth"] as? Double) ?? 0
        let height = max((content["height"] as? Double) ?? 0, (visual["clientHeight"] as? Double) ?? 0)
        let shot = try call(
            "Page.captureScreenshot",
            [
                "format": "png", "captureBeyondViewport": true,
                "clip": ["x": 0, "y": 0, "width": width, "height": height, "scale": 1],
            ])
        guard let base64 = shot["data"] as? String, let data = Data(base64Encoded: base64) else {
            throw HarnessError("no screenshot data")
        }
        return data
    }

    public var stderrTail: String {
        String(((try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "").suffix(2000))
    }

    /// Asks the browser to quit, then ends its process group if it has not within 10 s.
    public func close() {
        guard !closed else { return }
        closed = true
        _ = try? call("Browser.close", session: false, timeout: 5)
        Glibc.close(commands)
        Glibc.close(replies)
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(10)
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline {
                kill(-pid, SIGKILL)
                waitpid(pid, &status, 0)
                break
            }
            usleep(20_000)
        }
    }

    private func receive(timeout: TimeInterval, _ what: String, _ matches: ([String: Any]) -> Bool) throws -> [String:
        Any]
    {
        if let index = events.firstIndex(where: matches) { return events.remove(at: index) }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            while let end = buffer.firstIndex(of: 0) {
                let message = (try? JSONSerialization.jsonObject(with: Data(buffer[..<end]))) as? [String: Any] ?? [:]
                buffer.removeSubrange(...end)
                if matches(message) { return message }
                if message["method"] != nil { events.append(message) }
            }
            guard
                try readSome(
                    replies, into: &buffer, until: deadline,
                    closed: "Chromium closed its DevTools pipe while waiting for \(what); \(stderrTail)")
            else {
                throw HarnessError("timed out after \(timeout)s waiting for \(what); \(stderrTail)")
            }
        }
    }
}
