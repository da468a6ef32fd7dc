import ArgumentParser
import Foundation
import TollgateConfig
import TollgateServer

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check configuration files without serving them; prints file:line: severity: message.")

    @Argument(help: "Configuration files or folders.")
    var paths: [String] = ["config"]

    @Option(
        name: .customLong("credentials"),
        help: "Folder of credential folders (default: credentials/ beside the config).")
    var credentials: String?

    @Option(name: .customLong("service"), help: "Where a destination host is served, e.g. server=127.0.0.1:8080.")
    var service: [String] = []

    func run() throws {
        var settings = GatewaySettings(configPaths: paths, credentialsDirectory: credentials)
        settings.services = try Dictionary(service.map(Serve.parseService), uniquingKeysWith: { $1 })
        let findings: [Diagnostic]
        let summary: String
        do {
            let snapshot = try ConfigSnapshot.build(settings, generation: 0)
            findings = snapshot.analysis()
            summary =
                "\(snapshot.model.gateways.count) gateways, \(snapshot.model.virtualServices.count) virtual services, "
                + "\(snapshot.model.serviceEntries.count) service entries, \(snapshot.model.authorizationPolicies.count) authorization policies"
        } catch let error as ConfigError {
            findings = error.diagnostics
            summary = ""
        }
        for finding in findings.sorted(by: { ($0.file, $0.line ?? 0) < ($1.file, $1.line ?? 0) }) {
            print(finding.description)
        }
        let errors = findings.filter { $0.severity == .error }.count
        let warnings = findings.filter { $0.severity == .warning }.count
        if errors > 0 {
            print("\(errors) error(s), \(warnings) warning(s)")
            throw ExitCode(1)
        }
        print("ok: \(summary); \(warnings) warning(s)")
    }
}
