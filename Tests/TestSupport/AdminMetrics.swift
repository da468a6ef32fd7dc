import Foundation

/// Reads the gateway's admin endpoint the way a Prometheus scrape would.
public enum AdminMetrics {
    /// The value of an unlabelled metric (`tollgate_downstream_connections_active`), nil when the scrape
    /// fails or does not name it.
    public static func value(_ name: String, adminPort: Int) -> Double? {
        let metrics =
            (try? Command.run("curl", ["-sS", "http://127.0.0.1:\(adminPort)/stats/prometheus"]).stdout) ?? ""
        let line = metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ")[1]) }
    }
}
