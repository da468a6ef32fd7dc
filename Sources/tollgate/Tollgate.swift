import ArgumentParser

@main
struct Tollgate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate",
        abstract:
            "An mTLS edge gateway that reads Istio's Gateway, VirtualService, ServiceEntry and AuthorizationPolicy YAML.",
        version: "0.1.0",
        subcommands: [Serve.self, Validate.self, Certs.self, DemoUpstreamCommand.self])
}
