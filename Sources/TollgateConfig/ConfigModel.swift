import Yams

/// Every resource Tollgate acts on, decoded and checked field by field, in source order.
public struct ConfigModel: Sendable, Equatable {
    public var gateways: [Gateway] = []
    public var virtualServices: [VirtualService] = []
    public var serviceEntries: [ServiceEntry] = []
    public var authorizationPolicies: [AuthorizationPolicy] = []
    public var secrets: [SecretResource] = []
    /// Kubernetes `Service` names seen (usable as destination names with a `--service` mapping).
    public var serviceNames: [String] = []
    /// One line per resource that was skipped, and other non-fatal findings.
    public var notices: [Diagnostic] = []

    public init() {}

    public func gateway(_ qualifiedName: String) -> Gateway? {
        gateways.first { $0.meta.qualifiedName == qualifiedName }
    }
}

/// Turns YAML text into a `ConfigModel`. Reads no files: callers pass each file's text and name.
public enum ConfigLoader {
    public static let defaultNamespace = "default"

    /// Loads every document of every source; throws `ConfigError` listing every error found.
    public static func load(_ sources: [(name: String, text: String)]) throws -> ConfigModel {
        var model = ConfigModel()
        var errors: [Diagnostic] = []
        var seen: [String: ResourceMeta] = [:]
        for source in sources {
            let documents: [Node]
            do {
                // The sequence reports a parse error through `error` rather than by throwing.
                var sequence = try compose_all(yaml: source.text)
                var nodes: [Node] = []
                while let node = sequence.next() { nodes.append(node) }
                if let error = sequence.error { throw error }
                documents = nodes
            } catch let error as YamlError {
                errors.append(yamlDiagnostic(error, file: source.name))
                continue
            } catch {
                errors.append(Diagnostic(.error, file: source.name, line: nil, path: "", "\(error)"))
                continue
            }
            for document in documents {
                let root = YAMLValue(node: document, file: source.name, path: "")
                do {
                    guard let meta = try decode(root, into: &model) else { continue }
                    let key = "\(try root.requiredField("kind").string())/\(meta.qualifiedName)"
                    if let previous = seen[key] {
                        throw root.error("\(key) is already defined at \(previous.location)")
                    }
                    seen[key] = meta
                } catch let d as Diagnostic {
                    errors.append(d)
                }
            }
        }
        if !errors.isEmpty { throw ConfigError(errors) }
        return model
    }

    /// Decodes one document; returns its metadata when it was a kind Tollgate keeps.
    private static func decode(_ root: YAMLValue, into model: inout ConfigModel) throws -> ResourceMeta? {
        if root.isNull { return nil }
        let kindValue = try root.requiredField("kind")
        let kind = try kindValue.string()
        let apiVersion = try root.requiredField("apiVersion").string()
        let group = apiVersion.split(separator: "/").count == 2 ? String(apiVersion.split(separator: "/")[0]) : ""
        let version = String(apiVersion.split(separator: "/").last ?? "")
        let metaValue = try root.field("metadata")
        let line = kindValue.line
        func meta() throws -> ResourceMeta {
            try ResourceMeta.decode(metaValue, defaultNamespace: defaultNamespace, file: root.file, line: line)
        }
        func spec() throws -> YAMLValue { try root.requiredField("spec") }
        func checkTop() throws {
            try root.checkKeys(["apiVersion", "kind", "metadata", "spec", "status"])
        }
        func requireVersion(_ versions: [String]) throws {
            guard versions.contains(version) else {
                throw try root.requiredField("apiVersion").error(
                    "unsupported version '\(apiVersion)' (expected \(versions.map { "\(group)/\($0)" }.joined(separator: ", ")))"
                )
            }
        }

        switch (group, kind) {
        case ("networking.istio.io", "Gateway"):
            try requireVersion(["v1alpha3", "v1beta1", "v1"])
            try checkTop()
            let m = try meta()
            try Gateway.checkAnnotations(metaValue)
            model.gateways.append(try Gateway.decode(spec(), meta: m))
            return m
        case ("networking.istio.io", "VirtualService"):
            try requireVersion(["v1alpha3", "v1beta1", "v1"])
            try checkTop()
            let m = try meta()
            model.virtualServices.append(try VirtualService.decode(spec(), meta: m))
            return m
        case ("networking.istio.io", "ServiceEntry"):
            try requireVersion(["v1alpha3", "v1beta1", "v1"])
            try checkTop()
            let m = try meta()
            model.serviceEntries.append(try ServiceEntry.decode(spec(), meta: m))
            return m
        case ("security.istio.io", "AuthorizationPolicy"):
            try requireVersion(["v1beta1", "v1"])
            try checkTop()
            let m = try meta()
            model.authorizationPolicies.append(try AuthorizationPolicy.decode(root.field("spec") ?? root, meta: m))
            return m
        case ("", "Secret"):
            try root.checkKeys(["apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"])
            let m = try meta()
            model.secrets.append(try SecretResource.decode(root, meta: m))
            return m
        case ("", "Service"):
            let m = try meta()
            model.serviceNames.append(m.name)
            model.notices.append(
                Diagnostic(
                    .notice, file: root.file, line: line, path: "",
                    "Service \(m.name): not run by Tollgate; map it to an address with --service \(m.name)=HOST:PORT or a ServiceEntry"
                ))
            return nil
        default:
            let name = (try? metaValue?.optionalString("name")).flatMap { $0 } ?? "?"
            model.notices.append(
                Diagnostic(
                    .notice, file: root.file, line: line, path: "",
                    "skipping \(kind) \(name) (\(apiVersion)): not a kind Tollgate acts on"))
            return nil
        }
    }

    static func yamlDiagnostic(_ error: YamlError, file: String) -> Diagnostic {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return Diagnostic(.error, file: file, line: mark.line, path: "", "invalid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return Diagnostic(
                .error, file: file, line: context.mark.line, path: "",
                "duplicate keys in one mapping: \(duplicates.joined(separator: ", ")) (a missing '---' between documents?)"
            )
        default:
            return Diagnostic(.error, file: file, line: nil, path: "", "invalid YAML: \(error)")
        }
    }
}
