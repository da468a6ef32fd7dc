import ArgumentParser
import Foundation
import TollgateCore
import TollgateServer

/// `tollgate certs list`: every certificate the CA issued, its state, and when a gateway last saw it.
struct CertsList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List every certificate the CA issued: principal, serial, key, expiry, status, last seen.",
        discussion: """
            Status: valid, expiring (within 30 days), expired, revoked, replaced (renewed since). "Last seen" comes from \
            the file a gateway keeps with `serve --last-seen FILE`; give the same file with --last-seen.
            """)

    @Option(help: "Credentials folder.") var out = "credentials"
    @Option(help: "The CA's credential folder.") var ca = "self-signed-ca-tls"
    @Option(name: .customLong("last-seen"), help: "The gateway's last-seen file (serve --last-seen).") var lastSeen:
        String?
    @Flag(help: "JSON for scripts.") var json = false

    func run() throws {
        let index = IssuedIndex(ca: CredentialFolder(out, ca))
        guard index.ca.exists else { throw CertsError("\(index.ca.url.path) holds no CA") }
        let (records, unreadable) = try index.records()
        for line in unreadable {
            FileHandle.standardError.write(
                Data("warning: \(index.ca.url.path)/\(IssuedIndex.file):\(line): not a record; skipped\n".utf8))
        }
        let seen = try lastSeen.map(LastSeenFile.read) ?? [:]
        let entries = CertificateInventory.entries(
            records, revokedSerials: index.revokedSerials, lastSeen: seen,
            now: Int64(Date().timeIntervalSince1970))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(entries), as: UTF8.self))
            return
        }
        guard !entries.isEmpty else {
            print(
                "no certificates recorded for \(index.ca.url.path) (certificates issued by `tollgate certs` are recorded from now on)"
            )
            return
        }
        let day = DateFormatter()
        day.dateFormat = "yyyy-MM-dd"
        day.timeZone = TimeZone(identifier: "UTC")
        func date(_ t: Int64?) -> String {
            t.map { day.string(from: Date(timeIntervalSince1970: TimeInterval($0))) } ?? "never"
        }
        let rows =
            [["NAME", "PRINCIPAL", "SERIAL", "KEY", "EXPIRES", "STATUS", "LAST SEEN"]]
            + entries.map { e in
                [
                    e.certificate.name, e.certificate.principal ?? "-", String(e.certificate.serial.prefix(16)),
                    e.certificate.key,
                    date(e.certificate.notAfter), e.status.rawValue, date(e.lastSeen),
                ]
            }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max()! }
        for row in rows {
            print(
                row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(
                    separator: "  "
                )
                .trimmingCharacters(in: .whitespaces))
        }
    }
}
