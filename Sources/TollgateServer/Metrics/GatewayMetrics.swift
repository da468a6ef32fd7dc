import Prometheus
import Synchronization
import TollgateTLS

/// Istio's standard request metrics and Tollgate's own, in Prometheus form (swift-prometheus).
/// Label sets are few (codes × flags × principals × destinations); each loop caches the metric objects
/// it has used so the request path does no registry lookup after the first request of a kind.
public final class GatewayMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    /// Envoy's default histogram buckets, in milliseconds.
    static let durationBuckets: [Double] = [
        0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
        1_800_000, 3_600_000,
    ]

    static var requestsTotal: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "istio_requests", unitName: "total",
            helpText: "Requests handled by the gateway (Istio standard metric).")
    }
    static var requestDuration: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "istio_request_duration", unitName: "milliseconds",
            helpText: "Request duration (Istio standard metric).")
    }
    static var handshakeFailures: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "tollgate_tls_handshake_failures", unitName: "total",
            helpText: "Failed TLS handshakes by reason.")
    }
    static var reloads: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "tollgate_config_reloads", unitName: "total", helpText: "Configuration reloads.")
    }

    let connectionsOpened: Counter
    let connectionsActive: Gauge
    let connectionsRefused: Counter
    let acceptPauses: Counter
    let reloadsSucceeded: Counter
    let reloadsRejected: Counter
    let configGeneration: Gauge
    let clientCertificateExpiry: ClientCertificateExpiry
    let websocketUpgrades: Counter
    let websocketTunnelsActive: Gauge

    public init() {
        connectionsOpened = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "tollgate_downstream_connections", unitName: "total",
                helpText: "Client connections accepted."))
        connectionsActive = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "tollgate_downstream_connections", unitName: "active",
                helpText: "Client connections open now."))
        connectionsRefused = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "tollgate_downstream_connections_refused", unitName: "total",
                helpText: "Client connections closed at once because --max-connections were open."))
        acceptPauses = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "tollgate_accept_pauses", unitName: "total",
                helpText:
                    "Times accepting paused because the process ran out of file descriptors (or the kernel of memory).")
        )
        reloadsSucceeded = registry.makeCounter(descriptor: Self.reloads, labels: [("result", "success")])
        reloadsRejected = registry.makeCounter(descriptor: Self.reloads, labels: [("result", "rejected")])
        configGeneration = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "tollgate_config_generation", unitName: "",
                helpText: "Generation of the configuration in use (1 at start, +1 per reload)."))
        configGeneration.set(Double(1))
        clientCertificateExpiry = ClientCertificateExpiry(registry: registry)
        websocketUpgrades = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "tollgate_websocket_upgrades", unitName: "total",
                helpText: "WebSocket upgrades an upstream accepted (101): tunnels opened."))
        websocketTunnelsActive = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "tollgate_websocket_tunnels", unitName: "active",
                helpText: "WebSocket tunnels open now."))
        let droppedLines = MetricNameDescriptor(
            metricName: "tollgate_log_lines_dropped", unitName: "total",
            helpText: "Log lines dropped because their output's reader fell 16 MiB behind (access log: stdout).")
        let registry = self.registry
        droppedLogLines = [("stdout", AsyncOutput.standardOutput), ("stderr", AsyncOutput.standardError)].map {
            ($1, registry.makeCounter(descriptor: droppedLines, labels: [("output", $0)]))
        }
    }

    /// Log lines dropped per output, counted by `AsyncOutput` and brought in at each scrape.
    private let droppedLogLines: [(output: AsyncOutput, counter: Counter)]
    private let droppedLogLinesReported = Mutex<[Int]>([0, 0])

    /// The Prometheus text exposition of everything.
    public func exposition() -> [UInt8] {
        droppedLogLinesReported.withLock { reported in
            for (index, dropped) in droppedLogLines.enumerated() {
                let total = dropped.output.droppedLines
                if total > reported[index] { dropped.counter.increment(by: Int64(total - reported[index])) }
                reported[index] = total
            }
        }
        return registry.emitToBuffer()
    }

    func handshakeFailed(_ reason: TLSFailure.Reason) {
        registry.makeCounter(descriptor: Self.handshakeFailures, labels: [("reason", reason.rawValue)]).increment()
    }
}

/// Per-loop cache of labelled request metrics. Confined to its loop.
final class RequestMetrics {
    private let metrics: GatewayMetrics
    /// Keyed by the raw values, so a request whose labels were seen before formats nothing.
    private struct CounterKey: Hashable {
        let status: Int
        let flags: ResponseFlags
        let principal: String?
        let destination: String?
        let requestProtocol: String
    }
    private struct HistogramKey: Hashable {
        let status: Int
        let destination: String?
    }
    private var counters: [CounterKey: Counter] = [:]
    private var histograms: [HistogramKey: ValueHistogram] = [:]
    /// The previous request's series: keep-alive traffic mostly repeats its labels, and comparing them costs
    /// less than hashing them again.
    private var lastCounter: (key: CounterKey, counter: Counter)?
    private var lastHistogram: (key: HistogramKey, histogram: ValueHistogram)?

    init(metrics: GatewayMetrics) { self.metrics = metrics }

    /// Istio's `request_protocol` (istio_stats): `grpc` for a gRPC request — Envoy's test, a content type of
    /// exactly `application/grpc` or one that goes on with `+` or `;` — and `http` for every other, HTTP/1.1
    /// and HTTP/2 alike (the access log's protocol field tells them apart).
    static func requestProtocol(contentType: String?) -> String {
        guard let contentType, contentType.hasPrefix("application/grpc") else { return "http" }
        let rest = contentType.dropFirst("application/grpc".count)
        return rest.isEmpty || rest.hasPrefix("+") || rest.hasPrefix(";") ? "grpc" : "http"
    }

    /// `istio_requests_total` and `istio_request_duration_milliseconds`, with Istio's label names.
    /// `requestProtocol` is `requestProtocol(contentType:)`'s.
    func record(
        status: Int, flags: ResponseFlags, principal: String?, destination: String?, milliseconds: Int,
        requestProtocol: String = "http"
    ) {
        let key = CounterKey(
            status: status, flags: flags, principal: principal, destination: destination,
            requestProtocol: requestProtocol)
        let counter: Counter
        if let last = lastCounter, last.key == key {
            counter = last.counter
        } else if let cached = counters[key] {
            counter = cached
        } else {
            counter = metrics.registry.makeCounter(
                descriptor: GatewayMetrics.requestsTotal,
                labels: [
                    ("reporter", "source"), ("response_code", String(status)), ("response_flags", flags.description),
                    ("source_principal", principal.map { "spiffe://\($0)" } ?? "unknown"),
                    ("destination_service", destination ?? "unknown"), ("request_protocol", requestProtocol),
                ])
            counters[key] = counter
        }
        lastCounter = (key, counter)
        counter.increment()
        let histogramKey = HistogramKey(status: status, destination: destination)
        let histogram: ValueHistogram
        if let last = lastHistogram, last.key == histogramKey {
            histogram = last.histogram
        } else if let cached = histograms[histogramKey] {
            histogram = cached
        } else {
            histogram = metrics.registry.makeValueHistogram(
                descriptor: GatewayMetrics.requestDuration,
                labels: [
                    ("reporter", "source"), ("response_code", String(status)),
                    ("destination_service", destination ?? "unknown"),
                ], buckets: GatewayMetrics.durationBuckets)
            histograms[histogramKey] = histogram
        }
        lastHistogram = (histogramKey, histogram)
        histogram.record(Double(milliseconds))
    }
}
