import Foundation

/// One HTTP/1.1 request over `openssl s_client`, able to save a TLS session and to offer one back:
/// the tool for testing resumption (tickets and session ids) with a real client.
public enum SessionClient {
    public enum Resumption: String, CaseIterable, Sendable {
        case tls13Ticket, tls12Ticket, tls12SessionID

        var arguments: [String] {
            switch self {
            case .tls13Ticket: ["-tls1_3"]
            case .tls12Ticket: ["-tls1_2"]
            case .tls12SessionID: ["-tls1_2", "-no_ticket"]
            }
        }
    }

    /// What one connection saw.
    public struct Connection: Sendable {
        public var output: String
        public var reused: Bool { output.contains("Reused, TLS") }
        /// s_client prints the response right after its session dump, not always on a line of its own.
        public var status: Int? {
            guard let start = output.range(of: "HTTP/1.1 ")?.upperBound else { return nil }
            return Int(output[start...].prefix(3))
        }
        /// Whether the demo upstream answered (it echoes the request headers as JSON).
        public var reachedUpstream: Bool { output.contains("\"headers\"") }
        public var forwardedClientCert: Bool { output.lowercased().contains("x-forwarded-client-cert") }
    }

    /// `GET path` with SNI `serverName` and `Host: host` (default: the SNI), optionally a client
    /// certificate (`pki` credential folder) and a session file to save or to resume.
    public static func get(
        port: Int, serverName: String, host: String? = nil, client: String? = nil, pki: TestPKI,
        resumption: Resumption, sessionOut: String? = nil, sessionIn: String? = nil, path: String = "/headers"
    ) throws -> Connection {
        var args =
            ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", serverName, "-ign_eof"] + resumption.arguments
        if let client { args += ["-cert", pki.path(client, "tls.crt"), "-key", pki.path(client, "tls.key")] }
        if let sessionOut { args += ["-sess_out", sessionOut] }
        if let sessionIn { args += ["-sess_in", sessionIn] }
        // s_client may be gone before it reads the request (a refused handshake): no SIGPIPE for the runner.
        signal(SIGPIPE, SIG_IGN)
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host ?? serverName)\r\nConnection: close\r\n\r\n"
        let result = try Command.run("openssl", args, input: Data(request.utf8), timeout: 20)
        return Connection(output: result.stdout + result.stderr)
    }
}
