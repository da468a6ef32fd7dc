import Dispatch
import Foundation
import Logging
import TollgateConfig

/// State shared by every loop: the current configuration snapshot, settings, and logs.
/// The snapshot is swapped whole under a lock; readers take a reference and use it lock-free.
public final class GatewayRuntime: @unchecked Sendable {
    public static let serverName = "tollgate"

    public let settings: GatewaySettings
    public let logger: Logger
    public let accessLog: AccessLog
    public let metrics = GatewayMetrics()
    /// With `serve --last-seen FILE`: when each client certificate last connected.
    public let lastSeen: LastSeenRecorder?
    /// Pending enrollment links (`CREDENTIALS/enrollments`) and the attempts made at them.
    let enrollment: EnrollmentDesk
    private let lock = NSLock()
    private var snapshot: ConfigSnapshot
    private var connectionCount = 0
    private var extraUpstreamCount = 0
    private var nextConnectionID: UInt64 = 0
    private var drainStarted = false

    init(settings: GatewaySettings, snapshot: ConfigSnapshot, logger: Logger, accessLog: AccessLog) {
        self.settings = settings
        self.snapshot = snapshot
        self.logger = logger
        self.accessLog = accessLog
        lastSeen = settings.lastSeenFile.map { LastSeenRecorder(path: $0) }
        lastSeen?.start()
        enrollment = EnrollmentDesk(
            store: EnrollmentStore(
                directory: ((settings.credentialsDirectory ?? ConfigSnapshot.defaultCredentialsDirectory(settings))
                    as NSString).appendingPathComponent(EnrollmentStore.folderName)))
    }

    public var current: ConfigSnapshot { lock.withLock { snapshot } }

    func replace(_ newSnapshot: ConfigSnapshot) {
        lock.withLock { snapshot = newSnapshot }
    }

    /// Counts a new client connection and gives it an id, or returns nil when `maxConnections` are
    /// already open (the caller refuses it).
    func admitConnection() -> UInt64? {
        let id: UInt64? = lock.withLock {
            guard connectionCount + extraUpstreamCount < settings.maxConnections else { return nil }
            connectionCount += 1
            nextConnectionID += 1
            return nextConnectionID
        }
        guard let id else {
            metrics.connectionsRefused.increment()
            return nil
        }
        metrics.connectionsOpened.increment()
        metrics.connectionsActive.increment()
        return id
    }

    func connectionClosed(_ id: UInt64) {
        metrics.connectionsActive.decrement()
        lock.withLock { connectionCount -= 1 }
    }

    /// An HTTP/2 stream's upstream socket beyond the one its connection's slot stands for (the default of
    /// `maxConnections` counts one upstream per client connection): one connection can hold 100, a WebSocket
    /// tunnel for as long as it stays open. Each takes a slot, so they cannot spend the descriptors kept for
    /// listeners, configuration and CRLs. False when none is free.
    func admitExtraUpstream() -> Bool {
        lock.withLock {
            guard connectionCount + extraUpstreamCount < settings.maxConnections else { return false }
            extraUpstreamCount += 1
            return true
        }
    }

    func extraUpstreamReleased() {
        lock.withLock { extraUpstreamCount -= 1 }
    }

    /// Conditions that can repeat thousands of times a second are logged once per interval.
    let acceptPauseLog = RateLimitedLog(intervalSeconds: 10)
    let refusalLog = RateLimitedLog(intervalSeconds: 10)

    public var openConnections: Int { lock.withLock { connectionCount } }

    /// From SIGTERM on, `/healthz/ready` fails so balancers stop sending new connections, while
    /// the listeners still serve what they accepted.
    public var isDraining: Bool { lock.withLock { drainStarted } }

    func beginDraining() { lock.withLock { drainStarted = true } }
}
