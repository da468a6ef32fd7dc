import ArgumentParser
import Foundation
import TollgateCore
import TollgateTLS

struct Certs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Issue the PKI of an mTLS gateway: CA, server and client certificates, .p12 bundles, revocation.",
        discussion: """
            Credentials are written as folders holding tls.crt, tls.key and ca.crt — the layout a Kubernetes TLS
            secret has and credentialName reads — under --out (default: credentials).
            """,
        subcommands: [
            CertsInit.self, CertsServer.self, CertsClient.self, CertsP12.self, CertsApply.self, CertsRevoke.self,
            CertsInspect.self, CertsList.self, CertsEnroll.self, CertsTicketKeys.self,
        ])
}

struct KeyOptions: ParsableArguments {
    @Option(help: "Key: rsa2048, rsa3072, rsa4096, ec256, ec384.")
    var key: String?

    @Option(help: "Days of validity.")
    var days: Int?

    func algorithm(default fallback: KeyAlgorithm) throws -> KeyAlgorithm {
        guard let key else { return fallback }
        guard let parsed = KeyAlgorithm(name: key) else {
            throw ValidationError("unknown key type '\(key)' (rsa2048, rsa3072, rsa4096, ec256, ec384)")
        }
        return parsed
    }

    func validity(defaultDays: Int) throws -> Int64 {
        let d = days ?? defaultDays
        guard d > 0 && d <= 36_500 else { throw ValidationError("--days must be 1-36500") }
        return Int64(d) * 86_400
    }
}

private func report(_ action: String, _ folder: CredentialFolder, _ credential: IssuedCredential) {
    let expiry = Date(timeIntervalSince1970: TimeInterval(credential.notAfter))
    print(
        "\(action) \(folder.url.path) (serial \(credential.serialHex), valid until \(ISO8601DateFormatter().string(from: expiry)))"
    )
}

struct CertsInit: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create a CA.")

    @Option(help: "Credentials folder.") var out = "credentials"
    @Option(help: "Name of the CA's credential folder.") var name = "self-signed-ca-tls"
    @Option(name: .customLong("common-name"), help: "The CA's common name.") var commonName = "self-signed-ca"
    @Flag(help: "Replace an existing CA (certificates it issued stop verifying).") var force = false
    @OptionGroup var keyOptions: KeyOptions

    func run() throws {
        let folder = CredentialFolder(out, name)
        if folder.exists && !force {
            throw CertsError("\(folder.url.path) already holds a CA; use --force to replace it")
        }
        let spec = CertificateSpec(
            commonName: commonName, isCA: true, validitySeconds: try keyOptions.validity(defaultDays: 3650),
            key: try keyOptions.algorithm(default: .rsa(bits: 2048)))
        let issued = try PKI.issue(spec, signedBy: nil)
        try folder.write(issued)
        report("created CA", folder, issued)
    }
}

struct LeafOptions: ParsableArguments {
    @Option(help: "Credentials folder.") var out = "credentials"
    @Option(help: "The CA's credential folder (a name under --out, or a path).") var ca = "self-signed-ca-tls"
    @Option(name: .customLong("common-name"), help: "Common name (default: the first DNS name or the name).")
    var commonName: String?
    @Option(help: "DNS name (repeatable).") var dns: [String] = []
    @Option(help: "IP address (repeatable).") var ip: [String] = []
    @OptionGroup var keyOptions: KeyOptions
}

struct CertsServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server", abstract: "Issue a server certificate (serverAuth).")

    @Argument(help: "Name of the credential folder, e.g. server-tls.") var name: String
    @OptionGroup var leaf: LeafOptions

    func run() throws {
        guard !leaf.dns.isEmpty || !leaf.ip.isEmpty else {
            throw ValidationError("a server certificate needs --dns or --ip")
        }
        for ip in leaf.ip where IPAddress(ip) == nil { throw ValidationError("'\(ip)' is not an IP address") }
        let spec = CertificateSpec(
            commonName: leaf.commonName ?? leaf.dns.first ?? leaf.ip[0], dnsNames: leaf.dns, ipAddresses: leaf.ip,
            usages: [.serverAuth, .digitalSignature, .keyEncipherment],
            validitySeconds: try leaf.keyOptions.validity(defaultDays: 825),
            key: try leaf.keyOptions.algorithm(default: .ecdsa(curve: .p256)))
        let caFolder = CredentialFolder(leaf.out, leaf.ca)
        let issued = try PKI.issue(spec, signedBy: try caFolder.authority)
        let folder = CredentialFolder(leaf.out, name)
        try folder.write(issued)
        try IssuedIndex(ca: caFolder).append(name: folder.name, kind: "server", issued)
        report("issued server certificate", folder, issued)
    }
}

struct CertsClient: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client", abstract: "Issue a client certificate (clientAuth) with a SPIFFE URI.")

    @Argument(help: "Name of the credential folder, e.g. jinsu-macbook-tls.") var name: String
    @Option(help: "SPIFFE URI SAN, e.g. spiffe://jinsu-macbook (its principal is the part after spiffe://).")
    var spiffe: String
    @OptionGroup var leaf: LeafOptions
    @Option(help: "Also write a PKCS#12 bundle to this file.") var p12: String?
    @Flag(help: "PKCS#12 in the legacy SHA1/3DES encoding older macOS Keychains need.") var legacy = false
    @Option(
        name: .customLong("password-file"),
        help: "File holding the PKCS#12 password (else TOLLGATE_P12_PASSWORD, else a prompt).")
    var passwordFile: String?

    func run() throws {
        guard spiffe.hasPrefix("spiffe://"), spiffe.count > "spiffe://".count else {
            throw ValidationError("--spiffe must look like spiffe://NAME (got '\(spiffe)')")
        }
        let principal = String(spiffe.dropFirst("spiffe://".count))
        let password = try p12.map { _ in try PasswordSource.read(file: passwordFile, confirm: true) }
        let spec = CertificateSpec(
            commonName: leaf.commonName ?? principal, dnsNames: leaf.dns, ipAddresses: leaf.ip, uris: [spiffe],
            usages: [.clientAuth, .digitalSignature], validitySeconds: try leaf.keyOptions.validity(defaultDays: 825),
            key: try leaf.keyOptions.algorithm(default: .ecdsa(curve: .p256)))
        let caFolder = CredentialFolder(leaf.out, leaf.ca)
        let issued = try PKI.issue(spec, signedBy: try caFolder.authority)
        let bundle = try p12.map { _ in
            try PKI.pkcs12(
                certificatePEM: issued.certificatePEM, privateKeyPEM: issued.privateKeyPEM, chainPEM: issued.caPEM,
                friendlyName: principal, password: password!, legacy: legacy)
        }
        let folder = CredentialFolder(leaf.out, name)
        try folder.write(issued)
        try IssuedIndex(ca: caFolder).append(name: folder.name, kind: "client", issued)
        report("issued client certificate for principal \(principal)", folder, issued)
        if let p12, let bundle {
            guard
                FileManager.default.createFile(
                    atPath: p12, contents: Data(bundle), attributes: [.posixPermissions: 0o600])
            else {
                throw CertsError("cannot write \(p12)")
            }
            print("wrote \(p12) (\(legacy ? "legacy SHA1/3DES" : "AES-256") PKCS#12)")
        }
    }
}

struct CertsP12: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "p12", abstract: "Bundle a credential folder as PKCS#12 for a browser or keychain.")

    @Argument(help: "Credential folder (tls.crt, tls.key, ca.crt).") var credential: String
    @Option(help: "The .p12 file to write.") var out: String
    @Flag(help: "Legacy SHA1/3DES encoding, for older macOS Keychains.") var legacy = false
    @Option(
        name: .customLong("password-file"),
        help: "File holding the password (else TOLLGATE_P12_PASSWORD, else a prompt).")
    var passwordFile: String?
    @Option(
        name: .customLong("name"), help: "Friendly name shown by the keychain (default: the SPIFFE principal or CN).")
    var friendlyName: String?

    func run() throws {
        let folder = CredentialFolder(".", credential)
        let cert = try folder.read("tls.crt")
        let inspected = try PKI.inspect(pem: cert, caPEM: nil)
        let password = try PasswordSource.read(file: passwordFile, confirm: true)
        let bundle = try PKI.pkcs12(
            certificatePEM: cert, privateKeyPEM: try folder.read("tls.key"),
            chainPEM: folder.readIfPresent("ca.crt") ?? [],
            friendlyName: friendlyName ?? inspected.principal ?? inspected.summary.subject, password: password,
            legacy: legacy)
        guard
            FileManager.default.createFile(atPath: out, contents: Data(bundle), attributes: [.posixPermissions: 0o600])
        else {
            throw CertsError("cannot write \(out)")
        }
        print("wrote \(out) (\(legacy ? "legacy SHA1/3DES" : "AES-256") PKCS#12, \(inspected.summary.subject))")
    }
}
