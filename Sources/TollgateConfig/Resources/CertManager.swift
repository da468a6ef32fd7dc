import Yams

/// cert-manager `Issuer`/`ClusterIssuer` and `Certificate` manifests, as `tollgate certs apply` reads them.
public struct CertManagerIssuer: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case selfSigned
        /// Signs with the CA in this secret (`tls.crt`, `tls.key`).
        case ca(secretName: String)
    }

    public var name: String
    public var clusterScoped: Bool
    public var kind: Kind
}

public struct CertManagerCertificate: Sendable, Equatable {
    public var name: String
    public var namespace: String
    public var secretName: String
    public var commonName: String?
    public var isCA: Bool
    public var durationSeconds: Int64
    public var renewBeforeSeconds: Int64
    public var dnsNames: [String]
    public var ipAddresses: [String]
    public var uris: [String]
    public var emailAddresses: [String]
    public var usages: [String]
    public var keyAlgorithm: String
    public var keySize: Int?
    public var keyEncoding: String
    public var issuerName: String
    public var issuerKind: String
    public var file: String
    public var line: Int?
}

public enum CertManagerManifests {
    public static let usages: Set<String> = [
        "server auth", "client auth", "digital signature", "key encipherment", "cert sign", "crl sign", "signing",
    ]

    /// Reads the cert-manager kinds of every document; other kinds are skipped. Throws `ConfigError`.
    public static func load(_ sources: [(name: String, text: String)]) throws -> (
        issuers: [CertManagerIssuer], certificates: [CertManagerCertificate]
    ) {
        var issuers: [CertManagerIssuer] = []
        var certificates: [CertManagerCertificate] = []
        var errors: [Diagnostic] = []
        for source in sources {
            var sequence: YamlSequence<Node>
            do {
                sequence = try compose_all(yaml: source.text)
            } catch let error as YamlError {
                errors.append(ConfigLoader.yamlDiagnostic(error, file: source.name))
                continue
            }
            var nodes: [Node] = []
            while let node = sequence.next() { nodes.append(node) }
            if let error = sequence.error as? YamlError {
                errors.append(ConfigLoader.yamlDiagnostic(error, file: source.name))
                continue
            }
            for node in nodes {
                let root = YAMLValue(node: node, file: source.name, path: "")
                do {
                    guard !root.isNull, try root.optionalString("apiVersion")?.hasPrefix("cert-manager.io/") == true
                    else { continue }
                    let kind = try root.requiredField("kind").string()
                    let meta = try root.requiredField("metadata")
                    let name = try meta.requiredField("name").string()
                    let spec = try root.requiredField("spec")
                    switch kind {
                    case "Issuer", "ClusterIssuer":
                        issuers.append(try decodeIssuer(spec, name: name, clusterScoped: kind == "ClusterIssuer"))
                    case "Certificate":
                        certificates.append(
                            try decodeCertificate(
                                spec, name: name, namespace: try meta.optionalString("namespace") ?? "default",
                                line: try root.requiredField("kind").line))
                    default:
                        throw try root.requiredField("kind").error(
                            "cert-manager kind \(kind) is not supported (Issuer, ClusterIssuer, Certificate are)")
                    }
                } catch let d as Diagnostic {
                    errors.append(d)
                }
            }
        }
        if !errors.isEmpty { throw ConfigError(errors) }
        return (issuers, certificates)
    }

    static func decodeIssuer(_ spec: YAMLValue, name: String, clusterScoped: Bool) throws -> CertManagerIssuer {
        try spec.checkKeys(["selfSigned", "ca", "acme", "vault", "venafi"])
        if try spec.field("selfSigned") != nil {
            return CertManagerIssuer(name: name, clusterScoped: clusterScoped, kind: .selfSigned)
        }
        if let ca = try spec.field("ca") {
            try ca.checkKeys(["secretName", "crlDistributionPoints", "ocspServers", "issuingCertificateURLs"])
            return CertManagerIssuer(
                name: name, clusterScoped: clusterScoped,
                kind: .ca(secretName: try ca.requiredField("secretName").string()))
        }
        throw spec.error(
            "only selfSigned and ca issuers can be applied offline (acme, vault and venafi need their services)")
    }

    static func decodeCertificate(_ spec: YAMLValue, name: String, namespace: String, line: Int?) throws
        -> CertManagerCertificate
    {
        try spec.checkKeys([
            "secretName", "commonName", "isCA", "duration", "renewBefore", "dnsNames", "ipAddresses", "uris",
            "emailAddresses", "usages", "privateKey", "issuerRef", "subject", "secretTemplate", "revisionHistoryLimit",
        ])
        if let subject = try spec.field("subject") {
            throw subject.error("subject fields other than commonName are not supported")
        }
        let usages = try spec.stringList("usages")
        for usage in usages where !usages.isEmpty && !Self.usages.contains(usage) {
            throw try spec.requiredField("usages").error("unsupported usage '\(usage)'")
        }
        var algorithm = "RSA"
        var encoding = "PKCS1"
        var size: Int?
        if let key = try spec.field("privateKey") {
            try key.checkKeys(["algorithm", "size", "encoding", "rotationPolicy"])
            if let a = try key.field("algorithm") { algorithm = try a.enumeration(["RSA", "ECDSA"]) }
            if let e = try key.field("encoding") { encoding = try e.enumeration(["PKCS1", "PKCS8"]) }
            size = try key.optionalInt("size")
            if let size {
                let allowed = algorithm == "RSA" ? [2048, 3072, 4096] : [256, 384]
                guard allowed.contains(size) else {
                    throw try key.requiredField("size").error("unsupported \(algorithm) size \(size)")
                }
            }
        }
        let issuer = try spec.requiredField("issuerRef")
        try issuer.checkKeys(["name", "kind", "group"])
        let duration =
            try spec.field("duration").map(DurationParser.milliseconds).map { Int64($0 / 1000) } ?? 90 * 86_400
        let renewBefore =
            try spec.field("renewBefore").map(DurationParser.milliseconds).map { Int64($0 / 1000) } ?? duration / 3
        if renewBefore >= duration {
            throw try spec.requiredField("renewBefore").error("renewBefore must be shorter than duration")
        }
        let cert = CertManagerCertificate(
            name: name, namespace: namespace, secretName: try spec.requiredField("secretName").string(),
            commonName: try spec.optionalString("commonName"), isCA: try spec.optionalBool("isCA") ?? false,
            durationSeconds: duration, renewBeforeSeconds: renewBefore, dnsNames: try spec.stringList("dnsNames"),
            ipAddresses: try spec.stringList("ipAddresses"), uris: try spec.stringList("uris"),
            emailAddresses: try spec.stringList("emailAddresses"), usages: usages, keyAlgorithm: algorithm,
            keySize: size,
            keyEncoding: encoding, issuerName: try issuer.requiredField("name").string(),
            issuerKind: try issuer.optionalString("kind") ?? "Issuer",
            file: spec.file, line: line)
        if cert.commonName == nil && cert.dnsNames.isEmpty && cert.uris.isEmpty && cert.ipAddresses.isEmpty
            && cert.emailAddresses.isEmpty
        {
            throw spec.error(
                "a Certificate needs commonName or at least one of dnsNames, ipAddresses, uris, emailAddresses")
        }
        return cert
    }
}
