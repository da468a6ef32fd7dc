import Prometheus
import Synchronization
import TollgateCore

/// `tollgate_client_certificate_expiry_timestamp_seconds{principal}`: when the certificate a principal last
/// connected with ends, so an alert can fire before a device is locked out.
///
/// Only principals of certificates that passed verification get a series, and at most `maxPrincipals`
/// of them (the devices a CA issued, not what a stranger can invent); control characters in a principal
/// are percent-encoded before it becomes a label (the exposition escapes quote, backslash and LF).
/// A principal with several certificates shows the one it presented last. Shared by every loop: one lock
/// per verified handshake, and nothing is formatted when the principal's expiry is already known.
final class ClientCertificateExpiry: Sendable {
    static var descriptor: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "tollgate_client_certificate_expiry", unitName: "timestamp_seconds",
            helpText: "When the client certificate a principal last presented expires (seconds since 1970).")
    }

    let maxPrincipals: Int
    private let registry: PrometheusCollectorRegistry
    private let series = Mutex<[String: (gauge: Gauge, notAfter: Int64)]>([:])

    init(registry: PrometheusCollectorRegistry, maxPrincipals: Int = 1000) {
        self.registry = registry
        self.maxPrincipals = maxPrincipals
    }

    /// A verified client presented a certificate of `principal` ending at `notAfter`.
    func presented(principal: String, notAfter: Int64) {
        series.withLock { table in
            if let known = table[principal] {
                guard known.notAfter != notAfter else { return }
                known.gauge.set(Double(notAfter))
                table[principal] = (known.gauge, notAfter)
                return
            }
            guard table.count < maxPrincipals else { return }
            let gauge = registry.makeGauge(descriptor: Self.descriptor, labels: [("principal", Self.label(principal))])
            gauge.set(Double(notAfter))
            table[principal] = (gauge, notAfter)
        }
    }

    var principalCount: Int { series.withLock { $0.count } }

    static func label(_ principal: String) -> String {
        String(
            decoding: PercentEncoding.encode(principal.utf8) { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "%") },
            as: UTF8.self)
    }
}
