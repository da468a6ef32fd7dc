/// Name, namespace and where a resource was defined.
public struct ResourceMeta: Sendable, Equatable {
    public var name: String
    public var namespace: String
    public var labels: [String: String]
    public var annotations: [String: String]
    public var file: String
    public var line: Int?

    public init(
        name: String, namespace: String, labels: [String: String] = [:], annotations: [String: String] = [:],
        file: String = "<test>", line: Int? = nil
    ) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
        self.file = file
        self.line = line
    }

    /// `namespace/name`, the form Istio references use.
    public var qualifiedName: String { "\(namespace)/\(name)" }
    public var location: String { line.map { "\(file):\($0)" } ?? file }
}

extension ResourceMeta {
    static func decode(_ value: YAMLValue?, defaultNamespace: String, file: String, line: Int?) throws -> ResourceMeta {
        guard let value else {
            throw Diagnostic(.error, file: file, line: line, path: "metadata", "missing required field 'metadata'")
        }
        // metadata carries many Kubernetes bookkeeping fields; only these matter here, the rest are ignored.
        let name = try value.requiredField("name").string()
        let namespace = try value.optionalString("namespace") ?? defaultNamespace
        let labels = try value.field("labels")?.stringMap() ?? [:]
        let annotations = try value.field("annotations")?.stringMap() ?? [:]
        return ResourceMeta(
            name: name, namespace: namespace, labels: labels, annotations: annotations, file: file, line: line)
    }
}

/// Durations in Istio's protobuf JSON form: `1.5s`, `500ms`, `2m`, `1h`.
enum DurationParser {
    static func milliseconds(_ value: YAMLValue) throws -> Int {
        let text = try value.string().trimmingCharacters(in: " ")
        let units: [(String, Double)] = [
            ("ms", 1), ("us", 0.001), ("µs", 0.001), ("ns", 0.000001), ("s", 1000), ("m", 60_000), ("h", 3_600_000),
        ]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            // Bounded so that later arithmetic in nanoseconds cannot overflow: ten years is plenty for any timeout.
            if let v = Double(number), v >= 0, v.isFinite, v * factor <= 315_360_000_000 {
                return Int((v * factor).rounded())
            }
        }
        throw value.error("invalid duration '\(text)' (expected e.g. 500ms, 1.5s, 2m, at most 87600h)")
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
