import ArgumentParser
import Foundation
import TollgateCore
import TollgateTLS

/// Writes or rotates the session-ticket key file that replicas share (`serve --session-ticket-keys`).
struct CertsTicketKeys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ticket-keys",
        abstract: "Write a session ticket key file for replicas, or rotate one.",
        discussion: """
            One base64 80-byte key a line, as HAProxy's tls-ticket-keys: the first seals new tickets, every key \
            opens them. --rotate puts a new key first and keeps the newest --keep keys, so tickets sealed before \
            still open until their key is dropped. Give every replica the same file; it is re-read when it changes.
            """)

    @Option(help: "The key file.") var out: String
    @Flag(help: "Add a new key in front of the existing ones instead of writing a fresh file.") var rotate = false
    @Option(help: "Keys kept when rotating (the new one included).") var keep = 3

    func run() throws {
        guard (1...16).contains(keep) else { throw ValidationError("--keep must be 1-16") }
        var keys: [[UInt8]] = []
        if rotate {
            guard let text = try? String(contentsOfFile: out, encoding: .utf8) else {
                throw CertsError("\(out): cannot read the key file to rotate")
            }
            do {
                keys = try SessionTicketKeyRing.parse(text)
            } catch {
                throw CertsError("\(out): \(error)")
            }
        } else if FileManager.default.fileExists(atPath: out) {
            throw CertsError("\(out) exists; use --rotate to add a key to it")
        }
        keys = Array(([SessionTicketKeyRing.randomKey()] + keys).prefix(keep))
        let text = keys.map(Base64.encode).joined(separator: "\n") + "\n"
        // Written beside the file and renamed over it, so a watching gateway never reads half a file.
        let temporary = out + ".tmp-\(getpid())"
        guard
            FileManager.default.createFile(
                atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw CertsError("\(temporary): cannot write")
        }
        guard rename(temporary, out) == 0 else {
            unlink(temporary)
            throw CertsError("\(out): cannot replace (errno \(errno))")
        }
        print("wrote \(out) (\(keys.count) key\(keys.count == 1 ? "" : "s"); the first seals new tickets)")
    }
}
