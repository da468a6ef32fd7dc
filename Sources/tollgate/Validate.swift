import ArgumentParser
import Foundation
import TollgateConfig
import TollgateServer

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check configuration files without serving them; prints file:line: severity: message.")

    @Argument(help: "Configuration files or folders.")
    var paths: [String] = ["config"]

    @Option(name: .customLong("credentials"), help: "Folder of credential folders (default: credentials/ beside the config).")
    var credentials: String?

    @Option(name: .customLong("service"), help: "Where a destination host is served, e.g. server=127.0.0.1:8080.")
    var service: [String] = []

    func run() throws {
        var settings = GatewaySettings(configPaths: paths, credentialsDirectory: credentials)
        settings.services = try Dictionary(service.map(Serve.parseService), uniquingKeysWith: { $1 })
        do {
            let snapshot = try ConfigSnapshot.build(settings, generation: 0)
            for notice in snapshot.model.notices { print(notice.description) }
            for warning in snapshot.warnings { print("warning: \(warning)") }
            print("ok: \(snapshot.model.gateways.count) gateways, \(snapshot.model.virtualServices.count) virtual services, "
                + "\(snapshot.model.serviceEntries.count) service entries, \(snapshot.model.authorizationPolicies.count) authorization policies")
        } catch let error as ConfigError {
            print(error.description)
            throw ExitCode(1)
        }
    }
}
