internal import COpenSSL

/// A TLS or certificate failure, with OpenSSL's error queue drained into it at the point of failure
/// so nothing leaks into the next operation on this thread.
public struct TLSError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let openSSLErrors: [String]

    init(_ message: String, drainingQueue: Bool = true) {
        self.message = message
        self.openSSLErrors = drainingQueue ? TLSError.drainErrorQueue() : []
    }

    public var description: String {
        openSSLErrors.isEmpty ? message : "\(message) (\(openSSLErrors.joined(separator: "; ")))"
    }

    static func drainErrorQueue() -> [String] {
        drainErrorQueueWithReasons().map(\.text)
    }

    /// The queue's entries with their reason codes (`SSL_R_…`), so a failure is classed by code, not text.
    static func drainErrorQueueWithReasons() -> [(reason: Int32, text: String)] {
        var errors: [(reason: Int32, text: String)] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            errors.append(
                (
                    tg_ERR_GET_REASON(code),
                    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                ))
        }
        return errors
    }
}
