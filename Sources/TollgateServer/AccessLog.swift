import Dispatch
import TollgateCore

#if canImport(Glibc)
    import Glibc
#endif

/// One line per request on standard output, in the shape of Istio's default access log. Lines are
/// formatted on the loop into its `AccessLogBuffer` and written off the loop in batches, so neither a
/// slow terminal or pipe nor a thread hand-off per request costs the loop anything.
public final class AccessLog: Sendable {
    public let enabled: Bool

    public init(enabled: Bool = true) { self.enabled = enabled }

    struct Entry {
        var method: String
        var path: String
        var protocolVersion: String
        var status: Int
        var flags: ResponseFlags
        var details: String
        var bytesReceived: Int
        var bytesSent: Int
        var durationMilliseconds: Int
        var forwardedFor: String
        var userAgent: String
        var requestID: String
        var authority: String
        var upstreamHost: String
        var routeName: String
        var peer: String
        var serverName: String
        var principal: String
    }

    /// Appends `e`'s line; `timestamp` is `2026-11-29T18:59:00.123Z` without the brackets.
    static func append(_ e: Entry, timestamp: some Collection<UInt8>, to out: inout [UInt8]) {
        func text(_ s: String) {
            // Control bytes never reach here from the strict decoder; escaped anyway so a line stays one line.
            // `"` and `\` are legal in a User-Agent or a certificate's name: escaped (as nginx does) so a
            // client cannot close a quoted field early and forge the fields after it.
            for byte in s.utf8 {
                if byte < 0x20 || byte == 0x7F || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    out.append(contentsOf: [
                        UInt8(ascii: "\\"), UInt8(ascii: "x"), Hex.digit(byte >> 4), Hex.digit(byte & 15),
                    ])
                } else {
                    out.append(byte)
                }
            }
        }
        func quoted(_ s: String) {
            out.append(UInt8(ascii: "\""))
            text(s)
            out.append(UInt8(ascii: "\""))
        }
        func space() { out.append(UInt8(ascii: " ")) }
        out.append(UInt8(ascii: "["))
        out.append(contentsOf: timestamp)
        out.append(contentsOf: [UInt8(ascii: "]"), UInt8(ascii: " "), UInt8(ascii: "\"")])
        text(e.method)
        space()
        text(e.path)
        space()
        text(e.protocolVersion)
        out.append(UInt8(ascii: "\""))
        space()
        appendDecimal(e.status, to: &out)
        space()
        text(e.flags.description)
        space()
        text(e.details)
        space()
        appendDecimal(e.bytesReceived, to: &out)
        space()
        appendDecimal(e.bytesSent, to: &out)
        space()
        appendDecimal(e.durationMilliseconds, to: &out)
        space()
        quoted(e.forwardedFor)
        space()
        quoted(e.userAgent)
        space()
        quoted(e.requestID)
        space()
        quoted(e.authority)
        space()
        quoted(e.upstreamHost)
        space()
        text(e.routeName)
        space()
        text(e.peer)
        space()
        text(e.serverName)
        out.append(contentsOf: " principal=".utf8)
        text(e.principal)
        out.append(UInt8(ascii: "\n"))
    }

    static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var v = value.magnitude
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8,
                UInt8, UInt8, UInt8, UInt8
            ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buffer in
            var i = buffer.count
            repeat {
                i -= 1
                buffer[i] = UInt8(truncatingIfNeeded: v % 10) + 0x30
                v /= 10
            } while v > 0
            out.append(contentsOf: buffer[i...])
        }
    }
}

/// A loop's access-log lines waiting to be written. The first line after a write arms a 5 ms timer;
/// when it fires (or sooner, past 32 KiB) every waiting line goes to standard output in one hand-off to
/// the output thread. Confined to its loop.
final class AccessLogBuffer {
    private unowned let loop: EventLoop
    private var bytes: [UInt8] = []
    private var timer: DispatchSourceTimer?
    private var timestamp = TimestampCache()

    static let delayMilliseconds = 5
    static let flushBytes = 32 * 1024

    init(loop: EventLoop) { self.loop = loop }

    func append(_ entry: AccessLog.Entry) {
        loop.assertOnLoop()
        if bytes.isEmpty {
            bytes.reserveCapacity(AccessLogBuffer.flushBytes + 1024)
            armTimer()
        }
        AccessLog.append(entry, timestamp: timestamp.now(), to: &bytes)
        if bytes.count >= AccessLogBuffer.flushBytes { flush() }
    }

    func flush() {
        guard !bytes.isEmpty else { return }
        AsyncOutput.standardOutput.write(bytes: bytes)
        bytes = []
    }

    private func armTimer() {
        if timer == nil {
            let source = DispatchSource.makeTimerSource(queue: loop.queue)
            source.setEventHandler { [unowned self] in flush() }
            source.schedule(deadline: .now() + .milliseconds(AccessLogBuffer.delayMilliseconds))
            source.resume()
            timer = source
        } else {
            timer?.schedule(deadline: .now() + .milliseconds(AccessLogBuffer.delayMilliseconds))
        }
    }
}

/// `2026-11-29T18:59:00.123Z`, with the part before the milliseconds formatted once a second.
struct TimestampCache {
    private var second = -1
    private var text: [UInt8] = Array("1970-01-01T00:00:00.000Z".utf8)

    mutating func now() -> ArraySlice<UInt8> {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        if ts.tv_sec != second {
            second = ts.tv_sec
            let full = Array(Clock.isoTimestamp(seconds: ts.tv_sec, milliseconds: 0).utf8)
            if full.count == text.count { text = full }
        }
        let ms = Int(ts.tv_nsec / 1_000_000)
        let end = text.count - 1
        text[end - 3] = UInt8(0x30 + ms / 100)
        text[end - 2] = UInt8(0x30 + ms / 10 % 10)
        text[end - 1] = UInt8(0x30 + ms % 10)
        return text[...]
    }
}
