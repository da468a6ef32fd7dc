import ArgumentParser
import Foundation
import TollgateTLS

struct CertsInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a certificate says and the principal Tollgate will see.",
        discussion:
            "FILE may be a PEM certificate or a credential folder (its tls.crt, checked against its ca.crt and ca.crl)."
    )

    @Argument(help: "Certificate file or credential folder.") var file: String
    @Option(help: "CA bundle to verify against.") var ca: String?

    func run() throws {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory)
        let folder = isDirectory.boolValue ? CredentialFolder(".", file) : nil
        guard let pem = folder?.readIfPresent("tls.crt") ?? FileManager.default.contents(atPath: file).map(Array.init)
        else {
            throw CertsError("cannot read \(file)")
        }
        let caPEM =
            try ca.map { path -> [UInt8] in
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw CertsError("cannot read \(path)")
                }
                return Array(data)
            } ?? folder?.readIfPresent("ca.crt")
        let r = try PKI.inspect(pem: pem, caPEM: caPEM, crlPEM: folder?.readIfPresent("ca.crl"))
        let f = ISO8601DateFormatter()
        func date(_ t: Int64?) -> String {
            t.map { f.string(from: Date(timeIntervalSince1970: TimeInterval($0))) } ?? "-"
        }
        let sans = r.summary.subjectAltNames.map { name -> String in
            switch name {
            case .dnsName(let v): "DNS:\(v)"
            case .uniformResourceIdentifier(let v): "URI:\(v)"
            case .rfc822Name(let v): "email:\(v)"
            case .ipAddress(let b):
                "IP:\(b.count == 4 ? b.map(String.init).joined(separator: ".") : b.map { String($0, radix: 16) }.joined(separator: ":"))"
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
