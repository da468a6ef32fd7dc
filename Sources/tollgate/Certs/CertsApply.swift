import ArgumentParser
import Foundation
import TollgateConfig
import TollgateCore
import TollgateServer
import TollgateTLS

/// `tollgate certs apply -f certificates.yaml`: what cert-manager would do with these manifests, offline.
struct CertsApply: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Issue the secrets of cert-manager Issuer/ClusterIssuer (selfSigned, ca) and Certificate manifests.",
        discussion: """
            Each Certificate's secretName becomes a credential folder under --out. Running it again renews only
            certificates inside their renewBefore window (or whose names changed); --force renews all. A CA keeps
            its key when renewed, so what it issued still verifies. Nothing is written unless everything succeeds.
            """)

    @Option(name: .customShort("f"), help: "Manifest files or folders.") var files: [String]
    @Option(help: "Credentials folder.") var out = "credentials"
    @Flag(help: "Renew every certificate.") var force = false

    func run() throws {
        let sources = try ConfigFiles.collect(files).map { file -> (name: String, text: String) in
            guard let data = FileManager.default.contents(atPath: file) else { throw CertsError("cannot read \(file)") }
            return (file, String(decoding: data, as: UTF8.self))
        }
        let manifests: (issuers: [CertManagerIssuer], certificates: [CertManagerCertificate])
        do {
            manifests = try CertManagerManifests.load(sources)
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("\(error.description)\n".utf8))
            throw ExitCode(1)
        }
        guard !manifests.certificates.isEmpty else {
            throw CertsError("no cert-manager Certificate found in \(files.joined(separator: ", "))")
        }
        let plan = try CertificatePlan(manifests: manifests, directory: out, force: force, now: Date())
        for warning in plan.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        let results = try plan.issue()
        // Everything is issued in memory first; only then is anything written.
        for (certificate, outcome) in results {
            let folder = CredentialFolder(out, certificate.secretName)
            switch outcome {
            case .kept(let until):
                print(
                    "kept \(folder.url.path) (\(certificate.name)): valid until \(until), renewal due from \(plan.renewalDate(certificate, notAfter: until))"
                )
            case .issued(let credential, let reason):
                try folder.write(credential)
                if let signer = plan.signerFolder(of: certificate) {
                    try IssuedIndex(ca: CredentialFolder(out, signer)).append(
                        name: folder.name,
                        kind: certificate.isCA ? "ca" : (certificate.uris.isEmpty ? "server" : "client"),
                        credential)
                }
                print(
                    "issued \(folder.url.path) (\(certificate.name)): \(reason); serial \(credential.serialHex), valid until \(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(credential.notAfter))))"
                )
            }
        }
    }
}

/// Decides, in dependency order, which Certificates to (re)issue and issues them in memory.
struct CertificatePlan {
    enum Outcome {
        case kept(until: String)
        case issued(IssuedCredential, reason: String)
    }

    let issuers: [String: CertManagerIssuer]
    let certificates: [CertManagerCertificate]

    /// The credential folder of the CA that signs `certificate`; nil when it is self-signed.
    func signerFolder(of certificate: CertManagerCertificate) -> String? {
        guard case .ca(let secretName)? = issuers["\(certificate.issuerKind)/\(certificate.issuerName)"]?.kind else {
            return nil
        }
        return secretName
    }
    let directory: String
    let force: Bool
    let now: Date
    var warnings: [String] = []

    init(
        manifests: (issuers: [CertManagerIssuer], certificates: [CertManagerCertificate]), directory: String,
        force: Bool, now: Date
    ) throws {
        var byName: [String: CertManagerIssuer] = [:]
        for issuer in manifests.issuers {
            byName["\(issuer.clusterScoped ? "ClusterIssuer" : "Issuer")/\(issuer.name)"] = issuer
        }
        issuers = byName
        certificates = manifests.certificates
        self.directory = directory
        self.force = force
        self.now = now
        for cert in certificates {
            guard byName["\(cert.issuerKind)/\(cert.issuerName)"] != nil else {
                throw CertsError(
                    "\(cert.file):\(cert.line ?? 0): Certificate \(cert.name): issuerRef \(cert.issuerKind) \(cert.issuerName) is not defined in the given manifests"
                )
            }
            for name in cert.dnsNames where IPAddress(name) != nil {
                warnings.append(
                    "Certificate \(cert.name): dnsNames entry \(name) is an IP address; like cert-manager, Tollgate writes it as a DNS name, which clients will not match against an IP — list it under ipAddresses"
                )
            }
        }
    }

    func renewalDate(_ cert: CertManagerCertificate, notAfter: String) -> String {
        guard let end = ISO8601DateFormatter().date(from: notAfter) else { return "?" }
        return ISO8601DateFormatter().string(from: end.addingTimeInterval(-TimeInterval(cert.renewBeforeSeconds)))
    }

    func spec(_ cert: CertManagerCertificate) -> CertificateSpec {
        let key: KeyAlgorithm =
            cert.keyAlgorithm == "ECDSA"
            ? .ecdsa(curve: cert.keySize == 384 ? .p384 : .p256) : .rsa(bits: cert.keySize ?? 2048)
        var usages = Set(cert.usages.compactMap(CertificateSpec.Usage.init(rawValue:)))
        if cert.usages.isEmpty && !cert.isCA { usages = [.digitalSignature, .keyEncipherment] }
        return CertificateSpec(
            commonName: cert.commonName ?? cert.dnsNames.first ?? cert.uris.first ?? cert.name, isCA: cert.isCA,
            dnsNames: cert.dnsNames, ipAddresses: cert.ipAddresses, uris: cert.uris,
            emailAddresses: cert.emailAddresses,
            usages: usages, validitySeconds: cert.durationSeconds, key: key,
            keyEncoding: cert.keyEncoding == "PKCS8" ? .pkcs8 : .pkcs1)
    }

    /// Why an existing secret must be renewed, or nil to keep it.
    func renewalReason(_ cert: CertManagerCertificate, existing: CredentialFolder, issuerRenewedWithNewKey: Bool)
        -> String?
    {
        guard existing.exists, let pem = existing.readIfPresent("tls.crt"), existing.readIfPresent("tls.key") != nil,
            let report = try? PKI.inspect(pem: pem, caPEM: nil)
        else { return "new" }
        if force { return "renewed (--force)" }
        if issuerRenewedWithNewKey { return "its issuer was created anew" }
        let notAfter = TimeInterval(report.summary.notAfter ?? 0)
        if notAfter - now.timeIntervalSince1970 < TimeInterval(cert.renewBeforeSeconds) {
            return "renewed (inside renewBefore)"
        }
        let wanted = spec(cert)
        let sans = report.summary.subjectAltNames
        let dns = sans.compactMap { if case .dnsName(let v) = $0 { v } else { nil } }
        let uris = sans.compactMap { if case .uniformResourceIdentifier(let v) = $0 { v } else { nil } }
        if Set(dns) != Set(wanted.dnsNames) || Set(uris) != Set(wanted.uris) || report.isCA != wanted.isCA {
            return "renewed (names changed)"
        }
        return nil
    }

    /// Issues what needs issuing, signers before what they sign. Returns one outcome per Certificate, in order.
    func issue() throws -> [(CertManagerCertificate, Outcome)] {
        var outcomes: [String: Outcome] = [:]
        /// secretName → CA usable for signing in this run, and whether its key is new.
        var authorities: [String: (CertificateAuthority, newKey: Bool)] = [:]
        var pending = certificates
        while !pending.isEmpty {
            var progressed = false
            for cert in pending {
                let issuer = issuers["\(cert.issuerKind)/\(cert.issuerName)"]!
                let folder = CredentialFolder(directory, cert.secretName)
                var signer: CertificateAuthority?
                var issuerNewKey = false
                if case .ca(let secretName) = issuer.kind {
                    if let produced = authorities[secretName] {
                        (signer, issuerNewKey) = (produced.0, produced.newKey)
                    } else if certificates.contains(where: { $0.secretName == secretName }) {
                        continue  // its CA is issued in this run, later in this loop
                    } else {
                        signer = try CredentialFolder(directory, secretName).authority
                    }
                }
                let outcome: Outcome
                if let reason = renewalReason(cert, existing: folder, issuerRenewedWithNewKey: issuerNewKey) {
                    // A CA renewal keeps its key so that everything it issued still chains to it.
                    let reuse = cert.isCA && reason != "new" ? folder.readIfPresent("tls.key") : nil
                    let issued = try PKI.issue(spec(cert), signedBy: signer, reusingKey: reuse)
                    outcome = .issued(issued, reason: reason)
                    if cert.isCA {
                        authorities[cert.secretName] = (
                            CertificateAuthority(
                                certificatePEM: issued.certificatePEM, privateKeyPEM: issued.privateKeyPEM),
                            reuse == nil
                        )
                    }
                } else {
                    let report = try PKI.inspect(pem: try folder.read("tls.crt"), caPEM: nil)
                    outcome = .kept(
                        until: ISO8601DateFormatter().string(
                            from: Date(timeIntervalSince1970: TimeInterval(report.summary.notAfter ?? 0))))
                    if cert.isCA { authorities[cert.secretName] = (try folder.authority, false) }
                }
                outcomes[cert.name + "/" + cert.namespace] = outcome
                pending.removeAll { $0.name == cert.name && $0.namespace == cert.namespace }
                progressed = true
            }
            if !progressed {
                throw CertsError(
                    "cannot order the Certificates: \(pending.map(\.name).joined(separator: ", ")) wait for CAs that are never issued"
                )
            }
        }
        return certificates.map { ($0, outcomes[$0.name + "/" + $0.namespace]!) }
    }
}
