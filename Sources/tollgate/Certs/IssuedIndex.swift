import Foundation
import TollgateCore
import TollgateTLS

/// The CA's record of what it issued: `issued.jsonl` in the CA's credential folder, one JSON object a
/// line, appended whenever `certs client`, `certs server` or `certs apply` issues a certificate.
/// Appending never rewrites earlier lines, so a crash mid-write loses at most the newest record.
struct IssuedIndex {
    static let file = "issued.jsonl"
    let ca: CredentialFolder

    func append(name: String, kind: String, _ issued: IssuedCredential, now: Date = Date()) throws {
        let report = try PKI.inspect(pem: issued.certificatePEM, caPEM: nil)
        let record = IssuedCertificateRecord(
            name: name, kind: kind, principal: report.principal, serial: report.serialHex, sha256: report.sha256Hex,
            key: report.keyDescription,
            notBefore: report.summary.notBefore ?? 0, notAfter: report.summary.notAfter ?? issued.notAfter,
            issuedAt: Int64(now.timeIntervalSince1970))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try encoder.encode(record)
        line.append(UInt8(ascii: "\n"))
        let path = ca.url.appendingPathComponent(Self.file).path
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o644])
            else {
                throw CertsError("cannot create \(path)")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw CertsError("cannot open \(path)") }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
    }

    /// Every record; a line that does not parse is reported and skipped, never fatal.
    func records() throws -> (records: [IssuedCertificateRecord], unreadable: [Int]) {
        guard let bytes = ca.readIfPresent(Self.file) else { return ([], []) }
        var records: [IssuedCertificateRecord] = []
        var unreadable: [Int] = []
        for (index, line) in bytes.split(separator: UInt8(ascii: "\n")).enumerated() {
            if let record = try? JSONDecoder().decode(IssuedCertificateRecord.self, from: Data(line)) {
                records.append(record)
            } else {
                unreadable.append(index + 1)
            }
        }
        return (records, unreadable)
    }

    var revokedSerials: Set<String> {
        Set(
            String(decoding: ca.readIfPresent("revoked-serials.txt") ?? [], as: UTF8.self).split(separator: "\n").map(
                String.init))
    }
}
