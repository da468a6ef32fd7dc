import ArgumentParser
import Foundation

struct DemoUpstreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-upstream",
        abstract: "Run a small httpbin-like HTTP server to put behind the gateway.",
        discussion:
            "Endpoints: /uuid /headers /ip /get /anything /status/N /delay/S /bytes/N?seed=S /stream-bytes/N /sha256 /fail-once?key=K /ws/echo (WebSocket) /ws/ (a page that uses it)"
    )

    @Option(help: "Port to listen on.")
    var port: Int = 8080

    @Option(help: "Address to listen on.")
    var bind: String = "127.0.0.1"

    @Option(help: "Name reported in responses (to tell several upstreams apart).")
    var name: String = "demo"

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        try DemoUpstream(port: port, name: name).run(bind: bind)
    }
}
