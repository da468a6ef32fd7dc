import Foundation

/// A real HAProxy (Debian's) in TCP mode in front of gateway replicas, as an L4 balancer: every server
/// gets `send-proxy-v2`; with an admin port it is health-checked on `/healthz/ready` there. Its stats
/// page tells whether it counts a server UP or DOWN.
public final class HAProxy: @unchecked Sendable {
    public struct Server: Sendable {
        public var name: String
        public var port: Int
        public var adminPort: Int?
        public init(name: String, port: Int, adminPort: Int? = nil) {
            self.name = name
            self.port = port
            self.adminPort = adminPort
        }
    }

    public let port: Int
    public let statsPort: Int
    public let process: ManagedProcess

    public init(servers: [Server], directory: URL) throws {
        port = try Network.freePort()
        statsPort = try Network.freePort()
        // Checks every 100 ms, one failure takes a server out, one success brings it back. A connection
        // refused is retried, the last time on another server (redispatch).
        let lines = servers.map { server in
            "  server \(server.name) 127.0.0.1:\(server.port) send-proxy-v2"
                + (server.adminPort.map { " check port \($0) inter 100ms fall 1 rise 1" } ?? "")
        }
        let config = directory.appendingPathComponent("haproxy.cfg")
        try """
        defaults
          mode tcp
          timeout connect 5s
          timeout client 30s
          timeout server 30s
          retries 3
          option redispatch 1
        frontend gateway
          bind 127.0.0.1:\(port)
          default_backend replicas
        backend replicas
          balance roundrobin
          option httpchk GET /healthz/ready
        \(lines.joined(separator: "\n"))
        listen stats
          mode http
          bind 127.0.0.1:\(statsPort)
          stats enable
          stats uri /stats

        """.write(to: config, atomically: true, encoding: .utf8)
        process = try ManagedProcess(
            name: "haproxy", executable: try Command.which("haproxy"), arguments: ["-db", "-f", config.path],
            logDirectory: directory)
        try Network.waitForListening(port, process: process)
        try Network.waitForListening(statsPort, process: process)
    }

    public func stop() { process.stop() }

    /// Each server's state as HAProxy's stats say ("UP", "DOWN", "no check"…).
    public func serverStates() throws -> [String: String] {
        let csv = try Command.run("curl", ["-sS", "http://127.0.0.1:\(statsPort)/stats;csv"], timeout: 10).stdout
        let rows = csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        guard let header = rows.first, let status = header.firstIndex(of: "status") else { return [:] }
        var states: [String: String] = [:]
        for row in rows.dropFirst() where row.count > status && row[0] == "replicas" && row[1] != "BACKEND" {
            states[String(row[1])] = String(row[status])
        }
        return states
    }

    /// Waits (bounded) until HAProxy counts `server` in `state` ("UP" or "DOWN").
    public func waitFor(_ server: String, _ state: String, timeout: TimeInterval = 15) throws {
        try waitUntil(timeout: timeout, "HAProxy to count \(server) \(state)") {
            (try? serverStates()[server])?.hasPrefix(state) ?? false
        }
    }
}
