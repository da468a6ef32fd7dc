import TollgateConfig

/// The endpoints behind one destination (`host` + port), resolved off the loops when the
/// snapshot is built. Named as Envoy names clusters (`outbound|80||server`).
public struct UpstreamCluster: Sendable {
    public var name: String
    public var endpoints: [SocketAddress]
    /// Why there are no endpoints, when there are none (for logs and `validate`).
    public var resolutionError: String?
}

/// Maps route destinations to clusters. Built once per snapshot; read-only afterwards.
public struct UpstreamCatalog: Sendable {
    /// A destination as the clusters are keyed: hashed as it is, with no key string built per request.
    public struct Key: Hashable, Sendable {
        public let host: String
        public let port: Int?
    }

    private var clusters: [Key: UpstreamCluster] = [:]

    public static func key(host: String, port: Int?) -> Key { Key(host: host, port: port) }

    public func cluster(for destination: Destination) -> UpstreamCluster? {
        clusters[Self.key(host: destination.host, port: destination.port)]
    }

    public var all: [UpstreamCluster] { Array(clusters.values) }

    /// Whether two catalogs resolve every destination to the same endpoints.
    func sameEndpoints(as other: UpstreamCatalog) -> Bool {
        clusters.count == other.clusters.count
            && clusters.allSatisfy { other.clusters[$0.key]?.endpoints == $0.value.endpoints }
    }

    /// Resolves every destination named by a VirtualService route: ServiceEntry endpoints first,
    /// then `--service NAME=HOST:PORT` mappings, then the name itself as a DNS host. Blocks on DNS.
    public static func build(model: ConfigModel, services: [String: (host: String, port: Int)]) -> (
        UpstreamCatalog, [Diagnostic]
    ) {
        var catalog = UpstreamCatalog()
        var warnings: [Diagnostic] = []
        for vs in model.virtualServices {
            for (index, route) in vs.http.enumerated() {
                for destination in route.route.map(\.destination) {
                    let key = key(host: destination.host, port: destination.port)
                    guard catalog.clusters[key] == nil else { continue }
                    let cluster = resolve(destination, model: model, services: services)
                    if let error = cluster.resolutionError {
                        warnings.append(
                            Diagnostic(
                                .warning, file: vs.meta.file, line: route.line, path: "spec.http[\(index)].route",
                                "destination \(destination.host)\(destination.port.map { ":\($0)" } ?? "") has no endpoint (requests get 503): \(error)"
                            ))
                    }
                    catalog.clusters[key] = cluster
                }
            }
        }
        return (catalog, warnings)
    }

    static func resolve(_ d: Destination, model: ConfigModel, services: [String: (host: String, port: Int)])
        -> UpstreamCluster
    {
        let name = "outbound|\(d.port.map(String.init) ?? "")||\(d.host)"
        if let entry = model.serviceEntries.first(where: { $0.hosts.contains(d.host) }) {
            guard let targets = entry.endpoints(forPort: d.port) else {
                return UpstreamCluster(
                    name: name, endpoints: [],
                    resolutionError:
                        "ServiceEntry \(entry.meta.qualifiedName) has no port \(d.port.map(String.init) ?? "(several ports: name one)")"
                )
            }
            var addresses: [SocketAddress] = []
            var errors: [String] = []
            for target in targets {
                do {
                    // STATIC uses every address; DNS_ROUND_ROBIN, like Envoy's LOGICAL_DNS, the first.
                    let resolved = try SocketAddress.resolve(host: target.address, port: target.port)
                    addresses += entry.resolution == .dnsRoundRobin ? Array(resolved.prefix(1)) : resolved
                } catch {
                    errors.append("\(error)")
                }
            }
            return UpstreamCluster(
                name: name, endpoints: addresses,
                resolutionError: addresses.isEmpty ? errors.joined(separator: "; ") : nil)
        }
        if let mapped = services[d.host] ?? services[shortName(d.host)] {
            do {
                return UpstreamCluster(
                    name: name, endpoints: try SocketAddress.resolve(host: mapped.host, port: mapped.port),
                    resolutionError: nil)
            } catch {
                return UpstreamCluster(name: name, endpoints: [], resolutionError: "\(error)")
            }
        }
        guard let port = d.port else {
            return UpstreamCluster(
                name: name, endpoints: [],
                resolutionError:
                    "no ServiceEntry or --service mapping for \(d.host), and no destination port to connect to")
        }
        do {
            return UpstreamCluster(
                name: name, endpoints: try SocketAddress.resolve(host: d.host, port: port), resolutionError: nil)
        } catch {
            return UpstreamCluster(
                name: name, endpoints: [],
                resolutionError:
                    "\(error) (add a ServiceEntry or --service \(d.host)=HOST:PORT)")
        }
    }

    /// `server.ns.svc.cluster.local` → `server`: the Kubernetes Service a mapping may name.
    static func shortName(_ host: String) -> String {
        guard host.hasSuffix(".svc.cluster.local") || host.split(separator: ".").count == 2 else { return host }
        return String(host.split(separator: ".").first ?? Substring(host))
    }
}
