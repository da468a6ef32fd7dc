import Foundation
import TestSupport
import XCTest

/// `tollgate certs enroll` and the one-time link a MUTUAL block opted in with `tollgate.io/enroll` serves
/// to devices without a certificate — and the attacker's view of that block: nothing else opens.
final class EnrollmentTests: XCTestCase {
    var harness: GatewayHarness!
    var credentials: URL!
    let host = Manifests.host
    /// A MUTUAL block on the same port without the annotation.
    let otherHost = "app.iso.test"

    override func setUpWithError() throws {
        harness = try GatewayHarness()
        credentials = harness.workDirectory.appendingPathComponent("creds")
        try FileManager.default.createDirectory(at: credentials, withIntermediateDirectories: true)
        // The demo CA (to issue), the server certificate, and a trust folder whose CRL revokes jinsu-macbook.
        for folder in ["self-signed-ca-tls", "server-tls", "crl-trust-tls"] {
            try FileManager.default.copyItem(
                at: harness.pki.directory.appendingPathComponent(folder),
                to: credentials.appendingPathComponent(folder))
        }
        try harness.startUpstream()
        try harness.write(
            "gw.yaml",
            """
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata:
              name: devices
              namespace: istio-system
              annotations: {tollgate.io/enroll: "true", tollgate.io/whoami-path: /.tollgate/whoami}
            spec:
              servers:
              - hosts: [\(host)]
                port: {number: 443, name: https, protocol: HTTPS}
                tls: {mode: MUTUAL, credentialName: crl-trust-tls}
            ---
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata: {name: apps, namespace: istio-system}
            spec:
              servers:
              - hosts: [\(otherHost)]
                port: {number: 443, name: https-apps, protocol: HTTPS}
                tls: {mode: MUTUAL, credentialName: server-tls}
            """)
        try harness.write(
            "vs.yaml",
            """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: server, namespace: istio-system}
            spec:
              hosts: [\(host), \(otherHost)]
              gateways: [istio-system/devices, istio-system/apps]
              http:
              - route: [{destination: {host: server, port: {number: 80}}}]
            """)
        try harness.startGateway(credentials: credentials.path)
    }

    override func tearDown() { harness.stop() }

    var origin: String { "https://\(host):\(harness.port())" }

    struct Enrollment {
        var link: String
        var path: String
        var password: String
        var output: String
    }

    private func enroll(_ name: String, principal: String, ttl: String = "15m") throws -> Enrollment {
        let result = try Command.run(
            Paths.tollgate,
            [
                "certs", "enroll", name, "--spiffe", "spiffe://\(principal)", "--ttl", ttl, "--out", credentials.path,
                "--url-base", origin,
            ])
        XCTAssertEqual(result.exitCode, 0, result.stdout + result.stderr)
        let lines = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let link = try XCTUnwrap(lines.first { $0.hasPrefix("https://") }, result.stdout)
        let password = try XCTUnwrap(
            lines.first { $0.hasPrefix("one-time password") }?.split(separator: " ").last.map(String.init),
            result.stdout)
        return Enrollment(
            link: link, path: String(link.dropFirst(origin.count)), password: password, output: result.stdout)
    }

    /// curl without a client certificate (the CA is trusted).
    private func anonymous(_ path: String, host: String? = nil, arguments: [String] = []) throws -> CurlResult {
        try harness.curl(path, host: host ?? self.host, client: nil, arguments: arguments)
    }

    func testEnrollOnceWithoutACertificateThenBrowseWithIt() throws {
        let enrollment = try enroll("phone-tls", principal: "phone")
        XCTAssertTrue(enrollment.link.hasPrefix("\(origin)/.tollgate/enroll/"), enrollment.output)
        XCTAssertEqual(enrollment.password.count, 19, "four groups of four: \(enrollment.output)")
        XCTAssertTrue(enrollment.output.contains("█"), "the QR code (qrencode): \(enrollment.output)")
        let phone = credentials.appendingPathComponent("phone-tls")
        XCTAssertTrue(FileManager.default.fileExists(atPath: phone.appendingPathComponent("tls.crt").path))
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: phone.appendingPathComponent("tls.key").path),
            "the device's key leaves only in the bundle")
        let pending = try FileManager.default.contentsOfDirectory(
            atPath: credentials.appendingPathComponent("enrollments").path)
        let token = String(enrollment.path.split(separator: "/").last!)
        XCTAssertEqual(pending.count, 1)
        XCTAssertFalse(pending[0].contains(token), "only the token's hash is stored")

        // A browser with no certificate yet opens the link on the MUTUAL block (as the phone's would).
        let fresh = try HeadlessChromium(caCertificate: harness.pki.caCertificate, clientP12: nil, origin: origin)
        let opened = try fresh.load(enrollment.link, host: host)
        XCTAssertNil(opened.netError, opened.stderr)
        XCTAssertTrue(opened.dom.contains("Add this device"), opened.dom)
        let elsewhere = try fresh.load("\(origin)/headers", host: host)
        XCTAssertTrue(elsewhere.dom.contains("client certificate required"), elsewhere.dom)

        let page = try anonymous(enrollment.path)
        XCTAssertEqual(page.status, 200, page.stderr)
        XCTAssertTrue(page.body.contains("Add this device") && page.body.contains("phone-tls"), page.body)
        XCTAssertTrue(page.body.contains("\(enrollment.path)/bundle.p12"), page.body)
        // HEAD tells what the download is without using the link up.
        let head = try anonymous("\(enrollment.path)/bundle.p12", arguments: ["-I"])
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(head.body.lowercased().contains("content-type: application/x-pkcs12"), head.body)
        let ca = try anonymous("\(enrollment.path)/ca.crt")
        XCTAssertTrue(ca.body.hasPrefix("-----BEGIN CERTIFICATE-----"), ca.body)

        let bundle = harness.workDirectory.appendingPathComponent("phone.p12").path
        let download = try harness.curl(
            "\(enrollment.path)/bundle.p12", host: host, client: nil, output: bundle)
        XCTAssertEqual(download.status, 200, download.stderr)
        let again = try anonymous("\(enrollment.path)/bundle.p12")
        XCTAssertEqual(again.status, 404, "the link works once")
        XCTAssertTrue(again.body.contains("This link does not work"), again.body)
        XCTAssertEqual(try anonymous(enrollment.path).status, 404, "nor does its page open any more")
        XCTAssertTrue(
            try FileManager.default.contentsOfDirectory(atPath: credentials.appendingPathComponent("enrollments").path)
                .isEmpty, "burned")
        try waitUntil(timeout: 10, "the enrollment in the log") { harness.gateway!.log.contains("device enrolled") }
        XCTAssertTrue(harness.gateway!.log.contains("unknown or used token"), "the second fetch is logged")
        try waitUntil(timeout: 10, "the access log") { harness.gateway!.log.contains("\"GET /.tollgate/enroll/… ") }
        XCTAssertFalse(harness.gateway!.log.contains(token), "but never the token")

        // The bundle goes into a fresh NSS database with the one-time password (pk12util), and Chromium
        // with that identity passes MUTUAL on an ordinary path.
        let browser = try HeadlessChromium(
            caCertificate: harness.pki.caCertificate, clientP12: (bundle, enrollment.password, "phone"),
            origin: origin)
        let load = try browser.load("\(origin)/headers", host: host)
        XCTAssertNil(load.netError, load.stderr)
        XCTAssertTrue(load.dom.contains("URI=spiffe://phone"), load.dom)
    }

    func testAnExpiredLinkIsRefused() throws {
        let enrollment = try enroll("late-tls", principal: "late", ttl: "1s")
        let deadline = Date().addingTimeInterval(2.5)
        try waitUntil(timeout: 10, "the link to expire") { Date() > deadline }
        let late = try anonymous("\(enrollment.path)/bundle.p12")
        XCTAssertEqual(late.status, 404)
        XCTAssertTrue(late.body.contains("This link does not work"), late.body)
        try waitUntil(timeout: 10, "the refusal in the log") { harness.gateway!.log.contains("expired token") }
        XCTAssertEqual(try anonymous("\(enrollment.path)/bundle.p12").status, 404)
    }

    func testEveryOtherPathStillNeedsAVerifiedCertificate() throws {
        let token = String(repeating: "A", count: 43)
        for (path, extra) in [
            ("/", []), ("/uuid", []), ("/headers", []), ("/.tollgate/whoami", []),
            ("/.tollgate/enroll/../uuid", ["--path-as-is"]), ("/.tollgate/enroll/%2e%2e/uuid", ["--path-as-is"]),
            ("/.TOLLGATE/enroll/\(token)", []), ("/.tollgate/enrollment", []), ("/.tollgate/enroll", []),
        ] {
            let r = try anonymous(path, arguments: extra)
            XCTAssertEqual(r.status, 403, path)
            XCTAssertEqual(r.body, "client certificate required\n", path)
        }
        // The Host of another block on this connection: 421, as for any client.
        let misdirected = try anonymous("/.tollgate/enroll/\(token)", arguments: ["-H", "Host: \(otherHost)"])
        XCTAssertEqual(misdirected.status, 421)
        let absolute = try harness.raw(
            "GET https://\(otherHost)/uuid HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n", client: nil)
        XCTAssertTrue(absolute.hasPrefix("HTTP/1.1 421"), absolute)

        // A block without the annotation on the same port is as before: no certificate, no handshake.
        let other = try anonymous("/uuid", host: otherHost)
        XCTAssertEqual(other.status, 0)
        XCTAssertNotEqual(other.exitCode, 0)
        XCTAssertEqual(try harness.curl("/uuid", host: otherHost, client: "jinsu-iphone-tls").status, 200)

        // On the opted-in block a good device is served, and a bad certificate fails the handshake as before.
        XCTAssertEqual(try harness.curl("/uuid", client: "jinsu-iphone-tls").status, 200)
        for client in ["jinsu-macbook-tls", "expired-client-tls", "rogue-client-tls", "server-usage-client-tls"] {
            for path in ["/uuid", "/.tollgate/enroll/\(token)"] {
                let refused = try harness.curl(path, client: client)
                XCTAssertEqual(refused.status, 0, "\(client) \(path): \(refused.body)")
                XCTAssertNotEqual(refused.exitCode, 0, client)
            }
        }
        try waitUntil(timeout: 10, "the refusals in the log") {
            harness.gateway!.log.contains("request without a client certificate refused")
        }
    }

    func testAConnectionThatEnrolledReachesNothingElse() throws {
        let enrollment = try enroll("laptop-tls", principal: "laptop")
        // Two requests on one keep-alive connection without a certificate: the page, then an ordinary path.
        let output = try harness.raw(
            "GET \(enrollment.path) HTTP/1.1\r\nHost: \(host)\r\n\r\nGET /uuid HTTP/1.1\r\nHost: \(host)\r\n\r\n",
            client: nil)
        let responses = output.components(separatedBy: "HTTP/1.1 ").dropFirst()
        XCTAssertEqual(responses.count, 2, output)
        XCTAssertTrue(responses.first?.hasPrefix("200") ?? false, output)
        XCTAssertTrue(responses.last?.hasPrefix("403") ?? false, output)
        XCTAssertTrue(output.hasSuffix("client certificate required\n"), output)
        XCTAssertFalse(output.contains("\"uuid\""), output)
    }

    func testTurningEnrollmentOffClosesConnectionsWithoutACertificate() throws {
        let enrollment = try enroll("watch-tls", principal: "watch")
        let client = try harness.interactiveClient(nil)
        client.send("GET \(enrollment.path) HTTP/1.1\r\nHost: \(host)\r\n\r\n")
        try client.waitFor("HTTP/1.1 200")
        let before = harness.reloadCount
        let gateways = try String(
            contentsOf: harness.configDirectory.appendingPathComponent("gw.yaml"), encoding: .utf8)
        try harness.write("gw.yaml", gateways.replacingOccurrences(of: "tollgate.io/enroll: \"true\", ", with: ""))
        try harness.waitForReload(after: before)
        try waitUntil(timeout: 10, "the connection without a certificate to close") { !client.isRunning }
        let refused = try anonymous(enrollment.path)
        XCTAssertEqual(refused.status, 0, "no handshake without a certificate any more: \(refused.body)")
        XCTAssertEqual(try harness.curl("/uuid", client: "jinsu-iphone-tls").status, 200)
    }

    func testNoSessionOutlivesAConnectionWithoutACertificate() throws {
        let session = harness.workDirectory.appendingPathComponent("session.pem").path
        for resumption in SessionClient.Resumption.allCases {
            try? FileManager.default.removeItem(atPath: session)
            let first = try SessionClient.get(
                port: harness.port(), serverName: host, pki: harness.pki, resumption: resumption, sessionOut: session)
            XCTAssertEqual(first.status, 403, "\(resumption): \(first.output)")
            guard FileManager.default.fileExists(atPath: session) else { continue }
            let second = try SessionClient.get(
                port: harness.port(), serverName: host, client: "jinsu-iphone-tls", pki: harness.pki,
                resumption: resumption, sessionIn: session)
            XCTAssertFalse(second.reused, "\(resumption): \(second.output)")
        }
        // A device's session from the block without the annotation does not resume here either.
        let other = harness.workDirectory.appendingPathComponent("other.pem").path
        let device = try SessionClient.get(
            port: harness.port(), serverName: otherHost, client: "jinsu-iphone-tls", pki: harness.pki,
            resumption: .tls12SessionID, sessionOut: other)
        XCTAssertEqual(device.status, 200, device.output)
        let crossed = try SessionClient.get(
            port: harness.port(), serverName: host, pki: harness.pki, resumption: .tls12SessionID, sessionIn: other)
        XCTAssertFalse(crossed.reused, crossed.output)
        XCTAssertEqual(crossed.status, 403, crossed.output)
    }

    /// A live token must not reach the log by a request that is not served as a link: another method (405),
    /// the Host of another block (421), a spelling that normalizes elsewhere (403), or a device's request.
    func testALiveTokenNeverReachesTheLog() throws {
        let enrollment = try enroll("kiosk-tls", principal: "kiosk")
        let token = String(enrollment.path.split(separator: "/").last!)
        for method in ["POST", "OPTIONS", "DELETE"] {
            let r = try anonymous(enrollment.path, arguments: ["-X", method])
            XCTAssertEqual(r.status, 405, method)
        }
        XCTAssertEqual(try anonymous(enrollment.path, arguments: ["-H", "Host: \(otherHost)"]).status, 421)
        XCTAssertEqual(try anonymous("\(enrollment.path)/../../uuid", arguments: ["--path-as-is"]).status, 403)
        XCTAssertEqual(try anonymous("/\(enrollment.path)").status, 403)
        XCTAssertEqual(
            try harness.curl(
                "\(enrollment.path)/../../../uuid", client: "jinsu-iphone-tls", arguments: ["--path-as-is"]
            )
            .status, 200)
        try waitUntil(timeout: 10, "the access log of every attempt") {
            harness.gateway!.log.components(separatedBy: "\" 405 ").count > 3
                && harness.gateway!.log.contains("\" 421 ")
                && harness.gateway!.log.components(separatedBy: "client_certificate_required").count > 2
                && harness.gateway!.log.contains("\" 200 ")
        }
        XCTAssertFalse(harness.gateway!.log.contains(token), harness.gateway!.log)
        // None of these used the link up.
        XCTAssertEqual(try anonymous(enrollment.path).status, 200)
    }

    /// The log redacts by what the path normalizes to, not by its spelling: percent-escapes, dot segments
    /// and a backslash reach `/.tollgate/enroll/` too, are not served as the link (so its token stays live)
    /// and must not leave that token in the access log.
    func testALiveTokenSpelledOtherwiseNeverReachesTheLog() throws {
        let enrollment = try enroll("spelled-tls", principal: "spelled")
        let token = String(enrollment.path.split(separator: "/").last!)
        let spellings = [
            "/.tollgate/./enroll/\(token)", "/%2Etollgate/enroll/\(token)", "/.tollgate/%65nroll/\(token)",
            "/.tollgate/x/../enroll/\(token)/ca.crt", "/.tollgate%2fenroll/\(token)",
        ]
        for path in spellings {
            XCTAssertNotEqual(try anonymous(path, arguments: ["--path-as-is"]).status, 200, path)
        }
        try waitUntil(timeout: 10, "the access log of every attempt") {
            harness.gateway!.log.components(separatedBy: " HTTP/").count > spellings.count
        }
        XCTAssertFalse(harness.gateway!.log.contains(token), harness.gateway!.log)
        XCTAssertEqual(try anonymous(enrollment.path).status, 200, "the token is still live")
    }

    func testAttemptsAreRateLimitedPerClientAddress() throws {
        let enrollment = try enroll("tablet-tls", principal: "tablet")
        for attempt in 1...10 {
            let guess = try anonymous("/.tollgate/enroll/\(String(repeating: "B", count: 42))\(attempt % 10)")
            XCTAssertEqual(guess.status, 404, "attempt \(attempt)")
        }
        let limited = try anonymous(enrollment.path)
        XCTAssertEqual(limited.status, 429, "even a good link, from an address that used up its attempts")
        try waitUntil(timeout: 10, "the refusals in the log") {
            harness.gateway!.log.contains("enrollment attempt refused: too many attempts")
                && harness.gateway!.log.components(separatedBy: "enrollment link refused").count > 10
        }
        // Every other path is unaffected for a device.
        XCTAssertEqual(try harness.curl("/uuid", client: "jinsu-iphone-tls").status, 200)
    }

    /// A DENY policy holds for enrollment links too (e.g. links only from the office network); ALLOW
    /// policies, which name the principals a client without a certificate cannot have yet, do not.
    func testADenyPolicyHoldsForEnrollmentLinks() throws {
        let enrollment = try enroll("desk-tls", principal: "desk")
        var before = harness.reloadCount
        try harness.write(
            "allow.yaml",
            """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: devices-only, namespace: istio-system}
            spec:
              action: ALLOW
              rules:
              - from: [{source: {principals: ["jinsu-iphone"]}}]
            """)
        try harness.waitForReload(after: before)
        XCTAssertEqual(try anonymous(enrollment.path).status, 200, "an ALLOW policy leaves the link open")
        XCTAssertEqual(try anonymous("/uuid").status, 403)

        before = harness.reloadCount
        try harness.write(
            "deny.yaml",
            """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: enroll-from-the-office, namespace: istio-system}
            spec:
              action: DENY
              rules:
              - from: [{source: {notRemoteIpBlocks: ["10.0.0.0/8"]}}]
                to: [{operation: {paths: ["/.tollgate/enroll/*"]}}]
            """)
        try harness.waitForReload(after: before)
        let denied = try anonymous("\(enrollment.path)/bundle.p12")
        XCTAssertEqual(denied.status, 403, denied.body)
        XCTAssertEqual(denied.body, "RBAC: access denied")
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: credentials.appendingPathComponent("enrollments").path)
                .count, 1, "a denied request does not use the link up")
        XCTAssertEqual(try harness.curl("/uuid", client: "jinsu-iphone-tls").status, 200)
    }

    /// One IPv6 host usually holds a whole /64: counting each address apart would give it 2^64 buckets.
    func testIPv6AttemptsAreCountedPerSlash64() throws {
        harness.gateway?.stop()
        try harness.startGateway(extraArguments: ["--trusted-proxies", "1"], credentials: credentials.path)
        let guess = "/.tollgate/enroll/\(String(repeating: "C", count: 43))"
        for host in 1...10 {
            let r = try anonymous(guess, arguments: ["-H", "X-Forwarded-For: 2001:db8:1:2::\(host)"])
            XCTAssertEqual(r.status, 404, "attempt \(host)")
        }
        let next = try anonymous(guess, arguments: ["-H", "X-Forwarded-For: 2001:db8:1:2:ffff::1"])
        XCTAssertEqual(next.status, 429, "another address of the same /64")
        XCTAssertEqual(
            try anonymous(guess, arguments: ["-H", "X-Forwarded-For: 2001:db8:1:3::1"]).status, 404,
            "the next /64 is another client")
        XCTAssertEqual(
            try anonymous(guess, arguments: ["-H", "X-Forwarded-For: 192.0.2.1"]).status, 404,
            "an IPv4 client is its own address")
    }
}
