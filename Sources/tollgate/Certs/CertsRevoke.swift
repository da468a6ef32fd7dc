import ArgumentParser
import Foundation
import TollgateTLS

struct CertsRevoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract:
            "Revoke a client certificate: add it to the CA's CRL (ca.crl) and copy that CRL into every credential folder the CA issued.",
        discussion:
            "A MUTUAL gateway whose credential folder holds ca.crl refuses revoked clients once it reloads (automatic on file change)."
    )

    @Argument(help: "Credential folder of the certificate to revoke.") var name: String
    @Option(help: "Credentials folder.") var out = "credentials"
    @Option(help: "The CA's credential folder.") var ca = "self-signed-ca-tls"
    @Option(
        name: .customLong("crl-days"),
        help: "Days until the CRL must be re-signed (a gateway rejects every client once it has expired).")
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
        var serials = String(decoding: caFolder.readIfPresent(listFile) ?? [], as: UTF8.self).split(separator: "\n")
            .map(String.init)
        if !serials.contains(report.serialHex) { serials.append(report.serialHex) }
        let crl = try PKI.revocationList(authority: authority, revokedSerials: serials, days: crlDays)
        try caFolder.writeFile(listFile, Array((serials.joined(separator: "\n") + "\n").utf8))
        try caFolder.writeFile("ca.crl", crl)
        var updated: [String] = []
        let caCert = PKI.normalizedPEM(authority.certificatePEM)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        where !entry.hasPrefix(".") && entry != ca {
            let folder = CredentialFolder(out, entry)
            guard let folderCA = folder.readIfPresent("ca.crt"), PKI.normalizedPEM(folderCA) == caCert else { continue }
            try folder.writeFile("ca.crl", crl)
            updated.append(entry)
        }
        print(
            "revoked \(report.summary.subject) (serial \(report.serialHex)); CRL with \(serials.count) entr\(serials.count == 1 ? "y" : "ies") written to \(caFolder.url.path)/ca.crl and \(updated.sorted().joined(separator: ", "))"
        )
    }
}
