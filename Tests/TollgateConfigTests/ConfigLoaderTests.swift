import Foundation
import XCTest

@testable import TollgateConfig

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/seed")

private func seed(_ name: String) throws -> (name: String, text: String) {
    (name, try String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8))
}

private func errors(_ yaml: String, file: String = "gateway.yaml") -> [String] {
    do {
        _ = try ConfigLoader.load([(file, yaml)])
        return []
    } catch let error as ConfigError {
        return error.diagnostics.map(\.description)
    } catch {
        return ["\(error)"]
    }
}

final class SeedManifestTests: XCTestCase {
    /// The walkthrough's manifests, byte for byte (also checked against ../shared/seed when present).
    func testFixturesAreTheSeedVerbatim() throws {
        let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/seed")
        guard FileManager.default.fileExists(atPath: shared.path) else { return }
        for name in [
            "server.yaml", "gateway.yaml", "gateway-mutual.yaml", "authorizationpolicy.yaml", "certificates.yaml",
        ] {
            XCTAssertEqual(
                try Data(contentsOf: fixtures.appendingPathComponent(name)),
                try Data(contentsOf: shared.appendingPathComponent(name)), name)
        }
    }

    func testServerAndGatewayLoad() throws {
        let model = try ConfigLoader.load([try seed("server.yaml"), try seed("gateway.yaml")])
        XCTAssertEqual(model.gateways.count, 1)
        let gateway = model.gateways[0]
        XCTAssertEqual(gateway.meta.qualifiedName, "istio-system/mtls-gateway")
        XCTAssertEqual(gateway.servers[0].port.number, 443)
        XCTAssertEqual(gateway.servers[0].hosts, ["istio-server-mtls.dev.lab.jinsu.me"])
        XCTAssertEqual(gateway.servers[0].tls?.mode, .simple)
        XCTAssertEqual(gateway.servers[0].tls?.credentialName, "server-tls")
        XCTAssertEqual(model.virtualServices.count, 1)
        let vs = model.virtualServices[0]
        XCTAssertEqual(vs.meta.qualifiedName, "default/server")
        XCTAssertEqual(vs.gateways, ["istio-system/mtls-gateway"])
        XCTAssertEqual(vs.http[0].match[0].uri, .prefix("/"))
        XCTAssertEqual(vs.http[0].route[0].destination, Destination(host: "server", port: 80, subset: nil))
        XCTAssertEqual(model.serviceNames, ["server"])
        let notices = model.notices.map(\.description)
        XCTAssertTrue(
            notices.contains { $0.hasPrefix("server.yaml:3: notice:") && $0.contains("skipping Deployment server") },
            "\(notices)")
        XCTAssertTrue(notices.contains { $0.contains("Service server: not run by Tollgate") }, "\(notices)")
    }

    func testMutualGatewayLoads() throws {
        let model = try ConfigLoader.load([try seed("gateway-mutual.yaml")])
        XCTAssertEqual(model.gateways[0].servers[0].tls?.mode, .mutual)
    }

    func testAuthorizationPolicyLoads() throws {
        let model = try ConfigLoader.load([try seed("authorizationpolicy.yaml")])
        let policy = model.authorizationPolicies[0]
        XCTAssertEqual(policy.action, .deny)
        XCTAssertEqual(policy.matchLabels, ["istio": "ingressgateway"])
        XCTAssertEqual(policy.rules[0].from[0].principals, ["jinsu-macbook"])
    }

    func testCertificatesAreSkippedWithNotices() throws {
        let model = try ConfigLoader.load([try seed("certificates.yaml")])
        XCTAssertEqual(model.notices.count, 5)
        XCTAssertTrue(model.notices.allSatisfy { $0.message.hasPrefix("skipping ") })
    }
}

final class ConfigErrorTests: XCTestCase {
    func testUnknownFieldNamesFileLineAndPath() {
        let yaml = """
            apiVersion: networking.istio.io/v1alpha3
            kind: Gateway
            metadata:
              name: g
            spec:
              servers:
                - hosts: [a.test]
                  port: {number: 443, name: https, protocol: HTTPS}
                  tls:
                    mood: MUTUAL
                    credentialName: x
            """
        XCTAssertEqual(errors(yaml), ["gateway.yaml:10: error: spec.servers[0].tls.mood: unknown field"])
    }

    func testUnsupportedValueIsExplained() {
        let yaml = """
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata: {name: g}
            spec:
              servers:
                - hosts: [a.test]
                  port: {number: 443, name: https, protocol: HTTPS}
                  tls: {mode: PASSTHROUGH}
            """
        let found = errors(yaml)
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(
            found[0].hasPrefix("gateway.yaml:8: error: spec.servers[0].tls.mode: PASSTHROUGH is not supported"),
            found[0])
    }

    func testEveryErrorOfEveryFileIsReported() {
        let bad = """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: a}
            spec:
              hosts: ['*.bad*.test']
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: b}
            spec:
              hosts: [ok.test]
              http:
              - route: [{destination: {host: x}}]
                redirect: {uri: /y}
            """
        let found = errors(bad, file: "vs.yaml")
        XCTAssertEqual(found.count, 2, "\(found)")
        XCTAssertTrue(found[0].hasPrefix("vs.yaml:5: error: spec.hosts[0]: invalid host '*.bad*.test'"), found[0])
        XCTAssertTrue(
            found[1].hasPrefix(
                "vs.yaml:13: error: spec.http[0]: route, redirect and directResponse are mutually exclusive"), found[1])
    }

    func testInvalidYAMLNamesTheLine() {
        let found = errors("apiVersion: v1\nkind: Secret\nmetadata: {name: x\n", file: "bad.yaml")
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found[0].hasPrefix("bad.yaml:"), found[0])
        XCTAssertTrue(found[0].contains("invalid YAML"), found[0])
    }

    func testDuplicateResourcesAreRejected() {
        let doc = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: istio-system}\nstringData: {a: b}\n"
        let found = errors(doc + "---\n" + doc, file: "s.yaml")
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found[0].contains("already defined at s.yaml:2"), found[0])
    }

    func testPolicyValidationFollowsIstio() {
        func policy(_ spec: String) -> [String] {
            errors(
                "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n\(spec)",
                file: "p.yaml")
        }
        XCTAssertTrue(policy("  action: DENY\n").first?.contains("without rules is meaningless") ?? false)
        XCTAssertTrue(policy("  action: CUSTOM\n  rules: [{}]\n").first?.contains("CUSTOM") ?? false)
        XCTAssertTrue(policy("  rules: [{from: []}]\n").first?.contains("from must not be an empty list") ?? false)
        XCTAssertTrue(
            policy("  rules: [{from: [{source: {}}]}]\n").first?.contains("source must set at least one field") ?? false
        )
        XCTAssertTrue(
            policy("  rules: [{from: [{source: {principals: ['']}}]}]\n").first?.contains("empty string") ?? false)
        XCTAssertTrue(
            policy("  rules: [{from: [{source: {requestPrincipals: ['*']}}]}]\n").first?.contains("JWT") ?? false)
        XCTAssertTrue(
            policy("  rules: [{when: [{key: 'request.auth.claims[iss]', values: [x]}]}]\n").first?.contains("JWT")
                ?? false)
        XCTAssertTrue(
            policy("  rules: [{when: [{key: 'destination.labels[app]', values: [x]}]}]\n").first?.contains(
                "unknown attribute") ?? false)
        XCTAssertTrue(
            policy("  rules: [{from: [{source: {ipBlocks: ['10.0.0.0/33']}}]}]\n").first?.contains("invalid IP or CIDR")
                ?? false)
        XCTAssertTrue(policy("  targetRefs: [{kind: Gateway, name: g}]\n").first?.contains("targetRefs") ?? false)
        XCTAssertEqual(policy("  {}\n"), [])
    }

    /// A `when` key is accepted only if Tollgate evaluates it; anything else is refused at load, with where it is.
    func testEveryAcceptedConditionKeyIsOneTheMatcherEvaluates() throws {
        func load(_ key: String, _ values: String = "[x]") -> [String] {
            errors(
                "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - when:\n"
                    + "    - key: '\(key)'\n      values: \(values)\n", file: "p.yaml")
        }
        for key in ["source.ip", "remote.ip", "destination.ip"] { XCTAssertEqual(load(key, "['10.0.0.0/8']"), [], key) }
        XCTAssertEqual(load("destination.port", "['443']"), [])
        for key in ["source.namespace", "source.principal", "connection.sni", "request.headers[X-Team]"] {
            XCTAssertEqual(load(key), [], key)
        }
        for key in [
            "destination.labels[app]", "request.headers[]", "request.headers[a b]", "request.headers",
            "destination.ip ",
            "experimental.envoy.filters.network.mysql_proxy[db.table]", "source.user",
        ] {
            XCTAssertEqual(
                load(key).first?.hasPrefix("p.yaml:7: error: spec.rules[0].when[0].key: unknown attribute '\(key)'"),
                true,
                "\(key): \(load(key))")
        }
        XCTAssertEqual(
            load("destination.port", "[https]").first, "p.yaml:7: error: spec.rules[0].when[0]: invalid port 'https'")
        XCTAssertEqual(
            load("destination.ip", "[gateway]").first,
            "p.yaml:7: error: spec.rules[0].when[0]: invalid IP or CIDR 'gateway'")
        for key in [
            "source.ip", "remote.ip", "destination.ip", "destination.port", "source.namespace", "source.principal",
            "connection.sni",
            "request.headers[x-a]",
        ] {
            XCTAssertEqual(AuthorizationPolicy.Attribute(key: key)?.key, key)
        }
    }
}

final class ResourceDecodingTests: XCTestCase {
    func testVirtualServiceFeatures() throws {
        let yaml = """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: reviews, namespace: apps}
            spec:
              hosts: [reviews.example.com]
              gateways: [gw]
              http:
              - name: v2
                match:
                - headers: {end-user: {exact: jason}}
                  uri: {regex: '/r/[0-9]+'}
                  ignoreUriCase: true
                  queryParams: {debug: {}}
                rewrite: {uri: /new, authority: internal}
                timeout: 1.5s
                retries: {attempts: 3, perTryTimeout: 250ms, retryOn: 'connect-failure,5xx'}
                headers:
                  request: {set: {X-A: b}, remove: [x-b]}
                route:
                - destination: {host: reviews, port: {number: 9080}}
                  weight: 75
                - destination: {host: reviews-v2}
                  weight: 25
              - directResponse: {status: 418, body: {string: teapot}}
            """
        let vs = try ConfigLoader.load([("vs.yaml", yaml)]).virtualServices[0]
        XCTAssertEqual(vs.gateways, ["apps/gw"])
        let route = vs.http[0]
        XCTAssertEqual(route.match[0].headers.first?.0, "end-user")
        XCTAssertEqual(route.match[0].uri, .regex("/r/[0-9]+"))
        XCTAssertEqual(route.match[0].queryParams.first?.1, .present)
        XCTAssertEqual(route.timeoutMilliseconds, 1500)
        XCTAssertEqual(
            route.retries, HTTPRetry(attempts: 3, perTryTimeoutMilliseconds: 250, retryOn: ["connect-failure", "5xx"]))
        XCTAssertEqual(route.rewrite?.uri, "/new")
        XCTAssertEqual(route.headers.request.set.first?.0, "x-a")
        XCTAssertEqual(route.route.map(\.weight), [75, 25])
        XCTAssertEqual(vs.http[1].directResponse, HTTPDirectResponse(status: 418, body: Array("teapot".utf8)))
    }

    func testServiceEntryEndpointPorts() throws {
        let yaml = """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: se}
            spec:
              hosts: [api.internal]
              ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8000}]
              resolution: STATIC
              endpoints:
              - address: 10.0.0.1
              - address: 10.0.0.2
                ports: {http: 9000}
            """
        let entry = try ConfigLoader.load([("se.yaml", yaml)]).serviceEntries[0]
        let endpoints = entry.endpoints(forPort: 80)!
        XCTAssertEqual(endpoints.map(\.address), ["10.0.0.1", "10.0.0.2"])
        XCTAssertEqual(endpoints.map(\.port), [8000, 9000])
        XCTAssertNil(entry.endpoints(forPort: 81))
    }

    func testSecretManifest() throws {
        let yaml = """
            apiVersion: v1
            kind: Secret
            metadata: {name: server-tls, namespace: istio-system}
            type: kubernetes.io/tls
            data:
              tls.crt: aGVsbG8=
            stringData:
              ca.crt: plain
            """
        let secret = try ConfigLoader.load([("s.yaml", yaml)]).secrets[0]
        XCTAssertEqual(secret.data["tls.crt"], Array("hello".utf8))
        XCTAssertEqual(secret.data["ca.crt"], Array("plain".utf8))
    }

    func testHostMatching() {
        XCTAssertTrue(HostName.matches(pattern: "*.example.com", host: "a.example.com"))
        XCTAssertTrue(HostName.matches(pattern: "*.example.com", host: "a.b.example.com"))
        XCTAssertFalse(HostName.matches(pattern: "*.example.com", host: "example.com"))
        XCTAssertTrue(HostName.matches(pattern: "*", host: "anything"))
        XCTAssertTrue(HostName.intersects("*.example.com", "a.example.com"))
        XCTAssertTrue(HostName.intersects("*.a.example.com", "*.example.com"))
        XCTAssertFalse(HostName.intersects("a.test", "b.test"))
        XCTAssertEqual(HostName.stripPort("A.Example.com:8443"), "a.example.com")
        XCTAssertEqual(HostName.stripPort("[::1]:443"), "[::1]")
        // The ASCII fast path and the general one agree on every shape of authority.
        for (authority, host) in [
            ("a.test", "a.test"), ("A.TEST", "a.test"), ("[::1]", "[::1]"), ("[::1", "[::1"), ("[::1]:x", "[::1]"),
            ("a:b:443", "a:b"), (":443", ""), ("", ""), ("Ä.Test:1", "ä.test"), ("a.test:\u{301}", "a.test:\u{301}"),
        ] {
            XCTAssertEqual(HostName.stripPort(authority), host, authority)
        }
    }
}
