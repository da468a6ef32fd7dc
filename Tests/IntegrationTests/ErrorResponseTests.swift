import Foundation
import TestSupport
import XCTest

/// The statuses and bodies Envoy/Istio users know: 404 no route, 503 upstream down, 504 timeout.
final class ErrorResponseTests: XCTestCase {
    var harness: GatewayHarness!

    override func tearDown() { harness.stop() }

    func testNoRouteUpstreamDownAndTimeout() throws {
        harness = try GatewayHarness()
        try harness.startUpstream()
        let deadPort = try Network.freePort()
        try harness.write("gw.yaml", Manifests.gateway(mode: "MUTUAL"))
        try harness.write(
            "vs.yaml",
            Manifests.virtualService(
                routes: """
                        - match: [{uri: {prefix: /down}}]
                          route: [{destination: {host: dead, port: {number: 80}}}]
                        - match: [{uri: {prefix: /delay}}]
                          timeout: 300ms
                          route: [{destination: {host: server, port: {number: 80}}}]
                        - match: [{uri: {exact: /uuid}}, {uri: {exact: /malformed}}]
                          retries: {attempts: 0}
                          route: [{destination: {host: server, port: {number: 80}}}]
                    """))
        try harness.startGateway(services: ["dead": deadPort])

        let notFound = try harness.curl("/nothing-here")
        XCTAssertEqual(notFound.status, 404)
        XCTAssertEqual(notFound.body, "")

        let otherHost = try harness.curl("/uuid", arguments: ["-H", "Host: unknown.example.test"])
        XCTAssertEqual(otherHost.status, 404)

        let down = try harness.curl("/down")
        XCTAssertEqual(down.status, 503)
        XCTAssertTrue(
            down.body.hasPrefix(
                "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure"
            ),
            down.body)
        XCTAssertTrue(down.body.contains("delayed connect error: 111"), down.body)

        let slow = try harness.curl("/delay/3")
        XCTAssertEqual(slow.status, 504)
        XCTAssertEqual(slow.body, "upstream request timeout")

        let malformed = try harness.curl("/malformed")
        XCTAssertEqual(malformed.status, 502, "an upstream response that could smuggle is refused")
        XCTAssertEqual(
            malformed.body,
            "upstream connect error or disconnect/reset before headers. reset reason: protocol error, "
                + "transport failure reason: 400: both Transfer-Encoding and Content-Length")

        // The connection that saw errors still serves.
        XCTAssertEqual(try harness.curl("/uuid").status, 200)
        // Access-log lines are written in batches a few milliseconds apart.
        try waitUntil(timeout: 10, "the access log of /uuid") {
            harness.gateway!.log.contains("\"GET /uuid HTTP/1.1\" 200")
        }
        let log = harness.gateway!.log
        XCTAssertTrue(log.contains("\"GET /down HTTP/1.1\" 503 UF,URX"), log)
        XCTAssertTrue(log.contains("\"GET /delay/3 HTTP/1.1\" 504 UT"), log)
        XCTAssertTrue(log.contains("\"GET /nothing-here HTTP/1.1\" 404 NR route_not_found"), log)
    }
}

/// A request whose body stops arriving is ended with 408 after the stream idle timeout.
final class StreamIdleTimeoutTests: XCTestCase {
    func testAStalledRequestBodyGets408() throws {
        let harness = try GatewayHarness.running(mode: "SIMPLE", extraArguments: ["--stream-idle-timeout", "1"])
        defer { harness.stop() }
        let client = try InteractiveTLSClient(
            port: harness.port(), serverName: Manifests.host, caFile: harness.pki.caCertificate,
            directory: harness.workDirectory)
        client.send("POST /sha256 HTTP/1.1\r\nHost: \(Manifests.host)\r\nContent-Length: 10\r\n\r\nab")
        try client.waitFor("HTTP/1.1 408", timeout: 10)
        try waitUntil(timeout: 10, "the connection to close") { !client.isRunning }
        XCTAssertTrue(client.output.contains("stream timeout"), client.output)
        try waitUntil(timeout: 10, "the access log line") {
            harness.gateway!.log.contains("\"POST /sha256 HTTP/1.1\" 408 SI stream_idle_timeout")
        }
    }
}

/// Garbage at every layer: the process stays up and keeps serving.
final class GarbageInputTests: XCTestCase {
    func testRandomBytesBeforeAndAfterTLSDoNotHurtTheGateway() throws {
        let harness = try GatewayHarness.running(mode: "MUTUAL")
        defer { harness.stop() }
        let port = harness.port()
        for _ in 0..<20 {
            // Not TLS at all.
            _ = try Command.run("bash", ["-c", "head -c 3000 /dev/urandom > /dev/tcp/127.0.0.1/\(port)"], timeout: 20)
        }
        let tls = [
            "s_client", "-quiet", "-connect", "127.0.0.1:\(port)", "-servername", Manifests.host, "-CAfile",
            harness.pki.caCertificate,
            "-cert", harness.pki.path("jinsu-macbook-tls", "tls.crt"), "-key",
            harness.pki.path("jinsu-macbook-tls", "tls.key"),
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            // TLS, then random bytes where HTTP should be.
            let junk = Data((0..<2000).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let reply = try Command.run("openssl", tls, input: junk, timeout: 20).stdout
            XCTAssertTrue(reply.isEmpty || reply.hasPrefix("HTTP/1.1 4"), reply)
        }
        XCTAssertTrue(harness.gateway!.process.isRunning)
        XCTAssertEqual(try harness.curl("/uuid").status, 200)
    }
}
