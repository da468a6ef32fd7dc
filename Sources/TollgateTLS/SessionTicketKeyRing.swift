internal import COpenSSL
import Synchronization
import TollgateCore

/// The secrets session tickets are sealed with, for every server block of every port: the first seals,
/// all open (so a rotation does not end the sessions of the previous key). Each block derives its own
/// keys from these (see `ResumptionDomain`), so sharing the ring never shares trust between blocks.
///
/// Replicas given the same key file (`serve --session-ticket-keys`, HAProxy's `tls-ticket-keys` format:
/// one base64 80-byte key a line) resume each other's sessions; without a file the ring holds random
/// keys rotated on a schedule. Read from every loop's handshakes and replaced from a timer: a `Mutex`.
public final class SessionTicketKeyRing: Sendable {
    public static let shared = SessionTicketKeyRing()
    /// HAProxy's layout: 16 bytes of name, 32 of HMAC key, 32 of AES key. Tollgate uses the 80 bytes as
    /// input keying material and derives each block's name and keys from them.
    public static let keyLength = 80

    struct State: Sendable {
        var generation: Int
        var secrets: [[UInt8]]
    }

    private let state: Mutex<State>

    init(secrets: [[UInt8]] = [SessionTicketKeyRing.randomKey()]) {
        state = Mutex(State(generation: 1, secrets: secrets))
    }

    var current: State { state.withLock { $0 } }

    /// Installs keys read from a file: the first seals from now on.
    public func replace(with secrets: [[UInt8]]) {
        precondition(!secrets.isEmpty && secrets.allSatisfy { $0.count == Self.keyLength }, "checked by parse")
        state.withLock { $0 = State(generation: $0.generation + 1, secrets: secrets) }
    }

    /// A new random key seals from now on; the newest `keep - 1` previous keys still open tickets.
    public func rotate(keep: Int) {
        let fresh = Self.randomKey()
        state.withLock {
            $0 = State(generation: $0.generation + 1, secrets: Array(([fresh] + $0.secrets).prefix(max(1, keep))))
        }
    }

    public static func randomKey() -> [UInt8] {
        var key = [UInt8](repeating: 0, count: keyLength)
        precondition(RAND_bytes(&key, Int32(keyLength)) == 1, "the system random generator failed")
        return key
    }

    public struct FileError: Error, CustomStringConvertible {
        public var line: Int?
        public var message: String
        public var description: String { line.map { "line \($0): \(message)" } ?? message }

        public init(line: Int?, message: String) {
            self.line = line
            self.message = message
        }
    }

    /// Reads a key file: one base64 key of 80 bytes a line; blank lines and `#` comments are skipped.
    public static func parse(_ text: String) throws -> [[UInt8]] {
        var keys: [[UInt8]] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw.filter { $0 != " " && $0 != "\t" && $0 != "\r" })
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let key = Base64.decode(line) else {
                throw FileError(line: index + 1, message: "not base64")
            }
            guard key.count == keyLength else {
                throw FileError(
                    line: index + 1,
                    message: "a key must be \(keyLength) bytes (base64 of 80 random bytes), this one has \(key.count)")
            }
            keys.append(key)
        }
        guard !keys.isEmpty else { throw FileError(line: nil, message: "no key in the file") }
        return keys
    }
}
