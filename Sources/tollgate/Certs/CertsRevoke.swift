import ArgumentParser
import Foundation
import TollgateTLS

struct CertsRevoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke a client certificate: add it to the CA's CRL (ca.crl) and copy that CRL into every credential folder the CA issued.",
        discussion: "A MUTUAL gateway whose credential folder holds ca.crl refuses revoked clients once it reloads (automatic on file change).")

    @Argument(help: "Credential folder of the certificate to revoke.") var name: String
    @Option(help: "Credentials folder.") var out = "credentials"
    @Option(help: "The CA's credential folder.") var ca = "self-signed-ca-tls"
    @Option(name: .customLong("crl-days"), help: "Days until the CRL must be re-signed (a gateway rejects every client once it has expired).")
    var crlDays = 365

    func run() throws {
        let caFolder = CredentialFolder(out, ca)
        let authority = try caFolder.authority
        let target = CredentialFolder(out, name)
        let report = try PKI.inspect(pem: try target.read("tls.crt"), caPEM: authority.certificatePEM)
        guard report.chainCheck == "OK" || report.chainCheck == "certificate has expired" else {
            throw CertsError("\(target.url.path) was not issued by \(caFolder.url.path): \(report.chainCheck ?? "")")
        }
        let listFile = "revoked-serials.txt"
        var serials = String(decoding: caFolder.readIfPresent(listFile) ?? [], as: UTF8.self).split(separator: "\n").map(String.init)
        if !serials.contains(report.serialHex) { serials.append(report.serialHex) }
        let crl = try PKI.revocationList(authority: authority, revokedSerials: serials, days: crlDays)
        try caFolder.writeFile(listFile, Array((serials.joined(separator: "\n") + "\n").utf8))
        try caFolder.writeFile("ca.crl", crl)
        var updated: [String] = []
        let caCert = PKI.normalizedPEM(authority.certificatePEM)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [] where !entry.hasPrefix(".") && entry != ca {
            let folder = CredentialFolder(out, entry)
            guard let folderCA = folder.readIfPresent("ca.crt"), PKI.normalizedPEM(folderCA) == caCert else { continue }
            try folder.writeFile("ca.crl", crl)
            updated.append(entry)
        }
        print("revoked \(report.summary.subject) (serial \(report.serialHex)); CRL with \(serials.count) entr\(serials.count == 1 ? "y" : "ies") written to \(caFolder.url.path)/ca.crl and \(updated.sorted().joined(separator: ", "))")
    }
}

struct CertsInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a certificate says and the principal Tollgate will see.",
        discussion: "FILE may be a PEM certificate or a credential folder (its tls.crt, checked against its ca.crt and ca.crl).")

    @Argument(help: "Certificate file or credential folder.") var file: String
    @Option(help: "CA bundle to verify against.") var ca: String?

    func run() throws {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory)
        let folder = isDirectory.boolValue ? CredentialFolder(".", file) : nil
        guard let pem = folder?.readIfPresent("tls.crt") ?? FileManager.default.contents(atPath: file).map(Array.init) else {
            throw CertsError("cannot read \(file)")
        }
        let caPEM = try ca.map { path -> [UInt8] in
            guard let data = FileManager.default.contents(atPath: path) else { throw CertsError("cannot read \(path)") }
            return Array(data)
        } ?? folder?.readIfPresent("ca.crt")
        let r = try PKI.inspect(pem: pem, caPEM: caPEM, crlPEM: folder?.readIfPresent("ca.crl"))
        let f = ISO8601DateFormatter()
        func date(_ t: Int64?) -> String { t.map { f.string(from: Date(timeIntervalSince1970: TimeInterval($0))) } ?? "-" }
        let sans = r.summary.subjectAltNames.map { name -> String in
            switch name {
            case .dnsName(let v): "DNS:\(v)"
            case .uniformResourceIdentifier(let v): "URI:\(v)"
            case .rfc822Name(let v): "email:\(v)"
            case .ipAddress(let b): "IP:\(b.count == 4 ? b.map(String.init).joined(separator: ".") : b.map { String($0, radix: 16) }.joined(separator: ":"))"
            }
        }
        print("subject:    \(r.summary.subject)")
        print("issuer:     \(r.summary.issuer)")
        print("serial:     \(r.serialHex)")
        print("key:        \(r.keyDescription)\(r.isCA ? ", CA" : "")")
        print("usage:      \(r.extendedKeyUsages.isEmpty ? "-" : r.extendedKeyUsages.joined(separator: ", "))")
        print("SANs:       \(sans.isEmpty ? "-" : sans.joined(separator: ", "))")
        print("valid:      \(date(r.summary.notBefore)) to \(date(r.summary.notAfter))")
        print("principal:  \(r.principal ?? "none (no spiffe:// URI SAN: policies' principals cannot match it)")")
        if let check = r.chainCheck { print("verify:     \(check)") }
        if let check = r.chainCheck, check != "OK" { throw ExitCode(1) }
    }
}
