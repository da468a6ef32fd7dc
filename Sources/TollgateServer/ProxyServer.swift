import Dispatch
import Foundation
import Logging
import TollgateConfig

/// The running gateway: loops, listeners, and the current configuration.
public final class ProxyServer: @unchecked Sendable {
    public let runtime: GatewayRuntime
    private let loops: EventLoopGroup
    private var listeners: [Int: Listener] = [:]
    private let reloadQueue = DispatchQueue(label: "tollgate.reload")
    private var generation = 1
    private var watcher: ConfigWatcher?
    private var dnsTimer: DispatchSourceTimer?
    private var adminListener: Listener?

    /// Builds the first snapshot; throws with every configuration error found.
    public init(settings: GatewaySettings, logger: Logger, accessLog: AccessLog = AccessLog()) throws {
        let snapshot = try ConfigSnapshot.build(settings, generation: 1)
        runtime = GatewayRuntime(settings: settings, snapshot: snapshot, logger: logger, accessLog: accessLog)
        loops = try EventLoopGroup(count: settings.loops)
        for notice in snapshot.model.notices { logger.notice("\(notice.description)") }
        for warning in snapshot.warnings { logger.warning("\(warning)") }
    }

    /// Serves `/stats/prometheus` and `/healthz/ready` on `address:port` (plain HTTP; keep it private).
    public func startAdmin(address: String, port: Int) throws {
        let runtime = self.runtime
        let admin = try Listener(address: address, port: port, runtime: runtime, loops: loops) { fd, peer, loop in
            AdminConnection.accept(fd: fd, peer: peer, loop: loop, runtime: runtime)
        }
        admin.start()
        adminListener = admin
        runtime.logger.info(
            "admin listening",
            metadata: ["admin.address": "\(address):\(port)", "paths": "/stats/prometheus /healthz/ready"])
    }

    /// Binds every listener of the current snapshot.
    public func start() throws {
        let snapshot = runtime.current
        for (port, listener) in snapshot.listeners.sorted(by: { $0.key < $1.key }) {
            let l = try Listener(address: runtime.settings.bindAddress, port: port, runtime: runtime, loops: loops)
            l.start()
            listeners[port] = l
            let servers = listener.plan.servers.map {
                "\($0.gateway)[\($0.server.hosts.joined(separator: ","))] \($0.server.tls?.mode?.rawValue ?? "HTTP")"
            }
            runtime.logger.info(
                "listening",
                metadata: [
                    "listener.port": "\(port)", "gateway.port": "\(listener.plan.declaredPort)",
                    "servers": "\(servers.joined(separator: "; "))",
                ])
        }
    }

    /// Fails readiness at once; after `delayMilliseconds` of serving as usual (time for balancers' health
    /// checks to take this replica out), stops accepting, lets requests in flight finish (idle keep-alive
    /// connections are closed, busy ones close after their response), and calls `completion` once no client
    /// connection is left or `gracePeriodMilliseconds` has passed.
    public func shutdown(
        delayMilliseconds: Int = 0, gracePeriodMilliseconds: Int,
        completion: @escaping @Sendable (_ remaining: Int) -> Void
    ) {
        runtime.beginDraining()
        reloadQueue.asyncAfter(deadline: .now() + .milliseconds(delayMilliseconds)) { [self] in
            watcher?.stop()
            dnsTimer?.cancel()
            for listener in listeners.values { listener.stop() }
            listeners = [:]
            for loop in loops.loops { loop.execute { loop.drainConnections() } }
            waitForConnections(
                until: DispatchTime.now() + .milliseconds(gracePeriodMilliseconds), completion: completion)
        }
    }

    private func waitForConnections(until deadline: DispatchTime, completion: @escaping @Sendable (Int) -> Void) {
        let remaining = runtime.openConnections
        if remaining == 0 || DispatchTime.now() >= deadline {
            for loop in loops.loops { loop.queue.sync { loop.accessLog.flush() } }
            completion(remaining)
        } else {
            reloadQueue.asyncAfter(deadline: .now() + .milliseconds(50)) { [self] in
                waitForConnections(until: deadline, completion: completion)
            }
        }
    }

    /// Reloads whenever the configuration or credential files change.
    public func watchConfiguration() {
        let settings = runtime.settings
        var paths = settings.configPaths
        paths.append(settings.credentialsDirectory ?? ConfigSnapshot.defaultCredentialsDirectory(settings))
        for server in runtime.current.model.gateways.flatMap(\.servers) {
            for file in [
                server.tls?.serverCertificate, server.tls?.privateKey, server.tls?.caCertificates, server.tls?.caCrl,
            ].compactMap({ $0 }) {
                paths.append(file)
            }
        }
        let watcher = ConfigWatcher(paths: paths) { [weak self] in
            self?.runtime.logger.info("configuration files changed; reloading")
            self?.reload()
        }
        watcher.start()
        self.watcher = watcher
    }

    /// Re-resolves upstream names every `seconds`, off the loops, and swaps in endpoints that changed
    /// (DNS ServiceEntries, `--service` mappings and destinations named by DNS).
    public func refreshUpstreamsPeriodically(seconds: Int) {
        guard seconds > 0 else { return }
        let timer = DispatchSource.makeTimerSource(queue: reloadQueue)
        timer.schedule(deadline: .now() + .seconds(seconds), repeating: .seconds(seconds), leeway: .seconds(1))
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            let current = self.runtime.current
            let (catalog, _) = UpstreamCatalog.build(model: current.model, services: self.runtime.settings.services)
            guard !catalog.sameEndpoints(as: current.upstreams) else { return }
            // A reload may have happened meanwhile on this same serial queue: only replace what was resolved from.
            guard self.runtime.current === current else { return }
            self.runtime.replace(current.replacingUpstreams(catalog))
            self.runtime.logger.info("upstream endpoints changed", metadata: ["generation": "\(current.generation)"])
        }
        timer.resume()
        dnsTimer = timer
    }

    /// Rebuilds the snapshot from the same files off the loops and swaps it in; on any error the
    /// running configuration stays and the errors are logged.
    public func reload(completion: (@Sendable (Bool) -> Void)? = nil) {
        reloadQueue.async { [self] in
            generation += 1
            do {
                let snapshot = try ConfigSnapshot.build(runtime.settings, generation: generation)
                let oldPorts = Set(runtime.current.listeners.keys)
                let newPorts = Set(snapshot.listeners.keys)
                var opened: [Int: Listener] = [:]
                for port in newPorts.subtracting(oldPorts) {
                    let l = try Listener(
                        address: runtime.settings.bindAddress, port: port, runtime: runtime, loops: loops)
                    opened[port] = l
                }
                runtime.replace(snapshot)
                for loop in loops.loops { loop.execute { loop.configurationChanged(snapshot) } }
                for (port, l) in opened {
                    l.start()
                    listeners[port] = l
                }
                for port in oldPorts.subtracting(newPorts) {
                    listeners.removeValue(forKey: port)?.stop()
                }
                for warning in snapshot.warnings { runtime.logger.warning("\(warning)") }
                runtime.metrics.reloadsSucceeded.increment()
                runtime.metrics.configGeneration.set(Double(generation) as Double)
                runtime.logger.info(
                    "configuration reloaded",
                    metadata: [
                        "generation": "\(generation)",
                        "listeners": "\(newPorts.sorted())",
                    ])
                completion?(true)
            } catch {
                runtime.metrics.reloadsRejected.increment()
                runtime.logger.error(
                    "configuration rejected; keeping the previous one", metadata: ["error": "\(error)"])
                completion?(false)
            }
        }
    }
}
