import HTTP1
import TollgateCore

/// Command-line settings that shape a snapshot (everything not in the YAML).
public struct GatewaySettings: Sendable {
    /// Config files and folders to load.
    public var configPaths: [String]
    /// Where `credentialName` folders live; nil means `credentials/` beside the first config path.
    public var credentialsDirectory: String?
    /// Declared Gateway port → port to listen on.
    public var portMap: [Int: Int]
    /// `--service NAME=HOST:PORT`.
    public var services: [String: (host: String, port: Int)]
    public var bindAddress: String
    public var loops: Int
    public var limits: HTTPLimits
    public var trustedProxies: Int
    /// Where to keep when each client certificate last connected (`tollgate certs list --last-seen`).
    public var lastSeenFile: String?
    public var labels: [String: String]
    public var namespace: String
    public var rootNamespace: String
    /// Milliseconds.
    public var headerTimeout: Int
    public var idleTimeout: Int
    /// A request whose bytes stop flowing both ways for this long is ended (Envoy's stream idle timeout).
    public var streamIdleTimeout: Int
    public var connectTimeout: Int
    /// Client connections open at once; more are closed as soon as they are accepted.
    /// ALPN offers `h2` on HTTPS ports (`--no-http2` turns it off: HTTP/1.1 only, as before HTTP/2).
    public var offersHTTP2 = true
    public var maxConnections: Int
    /// Balancers allowed to connect, each sending a PROXY protocol header first (`--proxy-protocol`);
    /// empty: no PROXY protocol, clients connect directly.
    public var proxyProtocolSources: [CIDR] = []

    public init(
        configPaths: [String], credentialsDirectory: String? = nil, portMap: [Int: Int] = [:],
        services: [String: (host: String, port: Int)] = [:], bindAddress: String = "0.0.0.0", loops: Int = 2,
        limits: HTTPLimits = HTTPLimits(), trustedProxies: Int = 0,
        labels: [String: String] = ["istio": "ingressgateway"],
        namespace: String = "istio-system", rootNamespace: String = "istio-system", headerTimeout: Int = 60_000,
        idleTimeout: Int = 300_000, streamIdleTimeout: Int = 300_000, connectTimeout: Int = 10_000,
        maxConnections: Int = GatewaySettings.defaultMaxConnections()
    ) {
        self.configPaths = configPaths
        self.credentialsDirectory = credentialsDirectory
        self.portMap = portMap
        self.services = services
        self.bindAddress = bindAddress
        self.loops = loops
        self.limits = limits
        self.trustedProxies = trustedProxies
        self.labels = labels
        self.namespace = namespace
        self.rootNamespace = rootNamespace
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.streamIdleTimeout = streamIdleTimeout
        self.connectTimeout = connectTimeout
        self.maxConnections = maxConnections
    }

    /// Sized from the descriptor limit (`ulimit -n`): a client connection may hold an upstream
    /// connection too, and some descriptors stay free for listeners, configuration files and logs.
    public static func defaultMaxConnections(openFileLimit: Int) -> Int {
        let reserve = min(64, openFileLimit / 2)
        return max(1, (openFileLimit - reserve) / 2)
    }

    /// `defaultMaxConnections` for this process's limit.
    public static func defaultMaxConnections() -> Int {
        defaultMaxConnections(openFileLimit: System.openFileLimit())
    }
}
