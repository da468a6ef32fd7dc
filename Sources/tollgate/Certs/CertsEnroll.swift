import ArgumentParser
import Foundation
import TollgateServer
import TollgateTLS

/// `tollgate certs enroll`: issues a device's certificate and hands it over by a one-time link that a
/// gateway with `tollgate.io/enroll: "true"` serves, instead of moving a `.p12` file by hand.
struct CertsEnroll: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Issue a client certificate and print a one-time link (and QR code) that installs it on a device.",
        discussion: """
            The bundle waits under CREDENTIALS/enrollments, stored under the SHA-256 of the link's token, until a \
            gateway whose Gateway is annotated tollgate.io/enroll: "true" hands it out once at \
            https://HOST/.tollgate/enroll/TOKEN — without asking that device for a certificate. The .p12 password \
            is printed here only. The credential folder keeps the certificate (for `certs revoke` and `certs list`), \
            not the device's private key.
            """)

    @Argument(help: "Name of the credential folder, e.g. jinsu-phone-tls.") var name: String
    @Option(help: "SPIFFE URI SAN, e.g. spiffe://jinsu-phone (its principal is the part after spiffe://).")
    var spiffe: String
    @Option(help: "How long the link works: 30s, 15m, 2h, 1d (at most 7d).") var ttl = "15m"
    @Option(
        name: .customLong("url-base"),
        help: "The gateway's address as the device reaches it, e.g. https://gw.example.com:8443.")
    var urlBase = "https://localhost"
    @Flag(help: "PKCS#12 in the legacy SHA1/3DES encoding older macOS Keychains need.") var legacy = false
    @Flag(name: .customLong("no-qr"), help: "Do not draw the QR code.") var noQR = false
    @OptionGroup var leaf: LeafOptions

    func run() throws {
        guard spiffe.hasPrefix("spiffe://"), spiffe.count > "spiffe://".count else {
            throw ValidationError("--spiffe must look like spiffe://NAME (got '\(spiffe)')")
        }
        guard let lifetime = Self.seconds(ttl), lifetime > 0, lifetime <= 7 * 86_400 else {
            throw ValidationError("--ttl must be like 30s, 15m, 2h or 1d, and at most 7d (got '\(ttl)')")
        }
        guard let base = URL(string: urlBase), base.scheme == "https", base.host != nil, base.query == nil else {
            throw ValidationError(
                "--url-base must be an https:// address, e.g. https://gw.example.com (got '\(urlBase)')")
        }
        let principal = String(spiffe.dropFirst("spiffe://".count))
        let spec = CertificateSpec(
            commonName: leaf.commonName ?? principal, dnsNames: leaf.dns, ipAddresses: leaf.ip, uris: [spiffe],
            usages: [.clientAuth, .digitalSignature], validitySeconds: try leaf.keyOptions.validity(defaultDays: 825),
            key: try leaf.keyOptions.algorithm(default: .ecdsa(curve: .p256)))
        let caFolder = CredentialFolder(leaf.out, leaf.ca)
        let folder = CredentialFolder(leaf.out, name)
        guard !folder.exists else {
            throw CertsError("\(folder.url.path) exists already; choose another name or revoke and remove it first")
        }
        let issued = try PKI.issue(spec, signedBy: try caFolder.authority)
        let password = Self.oneTimePassword()
        let bundle = try PKI.pkcs12(
            certificatePEM: issued.certificatePEM, privateKeyPEM: issued.privateKeyPEM, chainPEM: issued.caPEM,
            friendlyName: principal, password: password, legacy: legacy)
        let store = EnrollmentStore(
            directory: (leaf.out as NSString).appendingPathComponent(EnrollmentStore.folderName))
        let now = Int64(Date().timeIntervalSince1970)
        for expired in store.removeExpired(now: now) {
            print("removed the expired, unused enrollment link for \(expired)")
        }
        let (token, hash) = EnrollmentStore.newToken()
        try store.add(
            PendingEnrollment(
                name: folder.name, principal: principal, expires: now + lifetime, certificateNotAfter: issued.notAfter,
                bundle: bundle, caCertificate: issued.caPEM),
            tokenHash: hash)
        try folder.write(issued)
        try? FileManager.default.removeItem(at: folder.url.appendingPathComponent("tls.key"))
        try IssuedIndex(ca: caFolder).append(name: folder.name, kind: "client", issued)

        let expiry = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(now + lifetime)))
        let link = urlBase.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/.tollgate/enroll/" + token
        print(
            "issued client certificate for principal \(principal) (serial \(issued.serialHex)); \(folder.url.path) keeps the certificate, not the key"
        )
        print("enrollment link, works once, until \(expiry):\n\n  \(link)\n")
        if !noQR {
            if let qr = Self.qrCode(link) {
                print(qr)
            } else {
                print("(install qrencode to see the link as a QR code)\n")
            }
        }
        print("one-time password for the bundle (shown only here): \(password)")
    }

    /// `30s`, `15m`, `2h`, `1d`.
    static func seconds(_ text: String) -> Int64? {
        guard let unit = text.last, let count = Int64(text.dropLast()) else { return nil }
        switch unit {
        case "s": return count
        case "m": return count * 60
        case "h": return count * 3600
        case "d": return count * 86_400
        default: return nil
        }
    }

    /// 16 characters in four groups, from an alphabet without look-alikes (about 79 bits): typed once on a phone.
    static func oneTimePassword() -> String {
        let alphabet = Array("23456789abcdefghjkmnpqrstuvwxyz")
        var generator = SystemRandomNumberGenerator()
        let characters = (0..<16).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
        return stride(from: 0, to: 16, by: 4).map { String(characters[$0..<$0 + 4]) }.joined(separator: "-")
    }

    /// The link drawn by Debian's `qrencode` (given on stdin, not argv, where other users could read it).
    static func qrCode(_ text: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        guard
            let executable = paths.map({ "\($0)/qrencode" }).first(where: FileManager.default.isExecutableFile)
        else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-t", "UTF8", "-m", "2", "-l", "M"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        input.fileHandleForWriting.write(Data(text.utf8))
        try? input.fileHandleForWriting.close()
        let drawn = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, !drawn.isEmpty else { return nil }
        return String(decoding: drawn, as: UTF8.self)
    }
}
