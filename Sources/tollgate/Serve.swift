import ArgumentParser
import Dispatch
import Foundation
import Logging
import TollgateConfig
import TollgateCore
import TollgateServer
import TollgateTLS

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway on a configuration folder or files.",
        discussion: """
            Loads every *.yaml/*.yml under the given paths. credentialName X resolves to the folder \
            CREDENTIALS/X holding tls.crt, tls.key and (for MUTUAL) ca.crt, like a Kubernetes secret volume.

            Changed configuration or credential files are reloaded automatically (SIGHUP reloads at once); a \
            configuration with errors is rejected and the running one stays. SIGTERM drains and exits.
            """)

    @Option(name: .customLong("config"), parsing: .upToNextOption, help: "Configuration files or folders.")
    var config: [String] = ["config"]

    @Option(
        name: .customLong("credentials"),
        help: "Folder of credential folders (default: credentials/ beside the config).")
    var credentials: String?

    @Option(name: .customLong("port-map"), help: "Listen on another port than the Gateway declares, e.g. 443=8443.")
    var portMap: [String] = []

    @Option(name: .customLong("service"), help: "Where a destination host is served, e.g. server=127.0.0.1:8080.")
    var service: [String] = []

    @Option(help: "Address to listen on.")
    var bind: String = "0.0.0.0"

    @Option(help: "Number of event loops (default: number of cores).")
    var loops: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .customLong("trusted-proxies"), help: "Proxies in front of Tollgate trusted to set x-forwarded-for.")
    var trustedProxies: Int = 0

    @Option(
        name: .customLong("label"),
        help: "Gateway workload label that AuthorizationPolicy selectors match (repeatable).")
    var labels: [String] = ["istio=ingressgateway"]

    @Option(help: "The gateway's namespace: policies there and in the root namespace apply.")
    var namespace: String = "istio-system"

    @Option(name: .customLong("root-namespace"), help: "Istio's root namespace: its policies apply to every workload.")
    var rootNamespace: String = "istio-system"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Flag(name: .customLong("no-access-log"), help: "Do not print one line per request.")
    var noAccessLog = false

    @Flag(name: .customLong("no-http2"), help: "Offer only http/1.1 by ALPN (HTTP/2 is offered by default).")
    var noHTTP2 = false

    @Option(
        name: .customLong("admin"),
        help: "ADDR:PORT for /stats/prometheus and /healthz/ready, e.g. 127.0.0.1:15090 (off by default).")
    var admin: String?

    @Option(
        name: .customLong("header-timeout"),
        help: "Seconds a client has to complete the TLS handshake and its first request head.")
    var headerTimeout: Int = 60

    @Option(name: .customLong("idle-timeout"), help: "Seconds an idle keep-alive connection is kept.")
    var idleTimeout: Int = 300

    @Option(
        name: .customLong("stream-idle-timeout"), help: "Seconds a request may go without any byte flowing either way.")
    var streamIdleTimeout: Int = 300

    @Option(
        name: .customLong("drain-seconds"), help: "On SIGTERM/SIGINT, how long requests in flight may take to finish.")
    var drainSeconds: Int = 10

    @Option(
        name: .customLong("shutdown-delay"),
        help:
            "On SIGTERM/SIGINT, seconds to keep accepting while /healthz/ready answers 503, so a balancer's health check takes the replica out before it stops listening."
    )
    var shutdownDelay: Int = 0

    @Option(
        name: .customLong("max-connections"),
        help: "Client connections open at once; more are closed on accept (default: from ulimit -n, (limit - 64) / 2).")
    var maxConnections: Int?

    @Option(
        name: .customLong("dns-refresh"), help: "Seconds between re-resolving upstream host names (0: only on reload).")
    var dnsRefresh: Int = 30

    @Flag(
        name: .customLong("no-watch"), help: "Reload on SIGHUP only, not when configuration or credential files change."
    )
    var noWatch = false

    @Option(
        name: .customLong("proxy-protocol"),
        help:
            "Address or CIDR of an L4 balancer that sends a PROXY protocol header (v1 or v2) first; repeatable. With it, gateway ports accept connections only from these sources, and take the client's address from the header."
    )
    var proxyProtocol: [String] = []

    @Option(
        name: .customLong("last-seen"),
        help:
            "File where the gateway keeps when each client certificate last connected (for `tollgate certs list --last-seen`)."
    )
    var lastSeen: String?

    @Option(
        name: .customLong("session-ticket-keys"),
        help:
            "File of base64 80-byte session ticket keys, one a line (the first seals, all open), shared by replicas so clients resume on any; watched for rotation. Without it keys are random and rotate every 12 hours."
    )
    var sessionTicketKeys: String?

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        // Diagnostic lines are written off the event loops, like the access log.
        LoggingSystem.bootstrap { label in AsyncLogHandler(label: label, level: level) }
        let logger = Logger(label: "tollgate")
        var settings = GatewaySettings(configPaths: config, credentialsDirectory: credentials, loops: max(1, loops))
        settings.bindAddress = bind
        settings.trustedProxies = trustedProxies
        settings.offersHTTP2 = !noHTTP2
        settings.lastSeenFile = lastSeen
        settings.proxyProtocolSources = try proxyProtocol.map { text in
            guard let range = CIDR(text) else {
                throw ValidationError("--proxy-protocol expects an address or CIDR, e.g. 10.0.0.0/8 (got '\(text)')")
            }
            return range
        }
        for (name, value, least) in [
            ("--header-timeout", headerTimeout, 1), ("--idle-timeout", idleTimeout, 1),
            ("--stream-idle-timeout", streamIdleTimeout, 1),
            ("--drain-seconds", drainSeconds, 0), ("--shutdown-delay", shutdownDelay, 0),
        ] where !(least...31_536_000).contains(value) {
            throw ValidationError("\(name) must be between \(least) and 31536000 seconds")
        }
        guard (0...86_400).contains(dnsRefresh) else {
            throw ValidationError("--dns-refresh must be between 0 and 86400 seconds")
        }
        guard (1...256).contains(loops) else { throw ValidationError("--loops must be between 1 and 256") }
        if let maxConnections {
            guard (1...10_000_000).contains(maxConnections) else {
                throw ValidationError("--max-connections must be between 1 and 10000000")
            }
            settings.maxConnections = maxConnections
        }
        settings.headerTimeout = headerTimeout * 1000
        settings.idleTimeout = idleTimeout * 1000
        settings.streamIdleTimeout = streamIdleTimeout * 1000
        settings.namespace = namespace
        settings.rootNamespace = rootNamespace
        settings.portMap = try Dictionary(portMap.map(Self.parsePortMapping), uniquingKeysWith: { $1 })
        settings.services = try Dictionary(service.map(Self.parseService), uniquingKeysWith: { $1 })
        settings.labels = try Dictionary(labels.map(Self.parseLabel), uniquingKeysWith: { $1 })

        let server: ProxyServer
        do {
            if let sessionTicketKeys {
                Self.ticketKeys = try SessionTicketKeySchedule.file(sessionTicketKeys, logger: logger)
            } else {
                Self.ticketKeys = SessionTicketKeySchedule.rotating(every: .seconds(12 * 3600), keep: 3)
            }
            server = try ProxyServer(settings: settings, logger: logger, accessLog: AccessLog(enabled: !noAccessLog))
            try server.start()
            if let admin {
                guard let colon = admin.lastIndex(of: ":"), let port = Int(admin[admin.index(after: colon)...]),
                    (1...65535).contains(port)
                else {
                    throw ValidationError("--admin expects ADDR:PORT, e.g. 127.0.0.1:15090")
                }
                try server.startAdmin(address: String(admin[..<colon]), port: port)
            }
            if !noWatch { server.watchConfiguration() }
            server.refreshUpstreamsPeriodically(seconds: dnsRefresh)
        } catch let error as SessionTicketKeyRing.FileError {
            throw ValidationError("--session-ticket-keys: \(error)")
        } catch let error as ConfigError {
            AsyncOutput.standardError.flush()
            FileHandle.standardError.write(Data("\(error.description)\ntollgate: configuration rejected\n".utf8))
            throw ExitCode(2)
        } catch {
            AsyncOutput.standardError.flush()
            throw error
        }
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .main)
        signal(SIGHUP, SIG_IGN)
        hangup.setEventHandler { server.reload() }
        hangup.resume()
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .main)
            source.setEventHandler {
                logger.info(
                    "shutting down: /healthz/ready fails; then no new connections, finishing requests in flight",
                    metadata: ["signal": "\(sig)", "shutdown.delay": "\(shutdownDelay)s"])
                server.shutdown(
                    delayMilliseconds: shutdownDelay * 1000, gracePeriodMilliseconds: drainSeconds * 1000
                ) { remaining in
                    logger.info("stopped", metadata: ["connections.dropped": "\(remaining)"])
                    AsyncOutput.standardOutput.flush()
                    AsyncOutput.standardError.flush()
                    Foundation.exit(0)
                }
            }
            source.resume()
            Self.keepAlive.append(source)
        }
        signal(SIGPIPE, SIG_IGN)
        Self.keepAlive.append(hangup)
        logger.info("tollgate ready", metadata: ["pid": "\(getpid())"])
        dispatchMain()
    }

    nonisolated(unsafe) static var keepAlive: [DispatchSourceSignal] = []
    nonisolated(unsafe) static var ticketKeys: SessionTicketKeySchedule?

    static func parsePortMapping(_ text: String) throws -> (Int, Int) {
        let parts = text.split(separator: "=")
        guard parts.count == 2, let from = Int(parts[0]), let to = Int(parts[1]), (1...65535).contains(from),
            (1...65535).contains(to)
        else {
            throw ValidationError("--port-map expects DECLARED=LISTEN, e.g. 443=8443 (got '\(text)')")
        }
        return (from, to)
    }

    static func parseService(_ text: String) throws -> (String, (host: String, port: Int)) {
        let parts = text.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, let colon = parts[1].lastIndex(of: ":"),
            let port = Int(parts[1][parts[1].index(after: colon)...]),
            (1...65535).contains(port)
        else {
            throw ValidationError("--service expects NAME=HOST:PORT, e.g. server=127.0.0.1:8080 (got '\(text)')")
        }
        var host = String(parts[1][..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (String(parts[0]).lowercased(), (host, port))
    }

    static func parseLabel(_ text: String) throws -> (String, String) {
        let parts = text.split(separator: "=", maxSplits: 1)
        guard parts.count == 2 else { throw ValidationError("--label expects KEY=VALUE (got '\(text)')") }
        return (String(parts[0]), String(parts[1]))
    }
}
