import Dispatch
import TollgateCore
import TollgatePlanner

#if canImport(Glibc)
    import Glibc
#endif

/// One line per request on standard output, in the shape of Istio's default access log. Lines are
/// formatted on the loop into its `AccessLogBuffer` and written off the loop in batches, so neither a
/// slow terminal or pipe nor a thread hand-off per request costs the loop anything.
public final class AccessLog: Sendable {
    public let enabled: Bool

    public init(enabled: Bool = true) { self.enabled = enabled }

    /// Appends one request's line, formatted straight from the bytes the exchange and its connection
    /// already hold: nothing is copied into Strings or built per request for it (the line used to cost
    /// an entry of ~18 Strings, the header values decoded into new ones). `timestamp` is
    /// `2026-11-29T18:59:00.123Z` without the brackets.
    static func appendLine(
        timestamp: UnsafeBufferPointer<UInt8>, head: RequestHead, status: Int, flags: ResponseFlags, details: String,
        bytesReceived: Int, bytesSent: Int, durationMilliseconds: Int, requestID: String, upstreamHost: String,
        routeName: String?, peer: String, serverName: String?, principal: String?, to out: inout LogBytes
    ) {
        func space() { out.append(UInt8(ascii: " ")) }
        func text(_ s: String) { ASCIIBytes.with(s) { escaped($0, to: &out) } }
        func text(_ s: String?) { if let s { text(s) } else { out.append(UInt8(ascii: "-")) } }
        func quoted(_ s: String) {
            out.append(UInt8(ascii: "\""))
            text(s)
            out.append(UInt8(ascii: "\""))
        }
        /// The first `name` field's value as sent, or `-`.
        func quotedField(_ name: String) {
            out.append(UInt8(ascii: "\""))
            var found = false
            head.headers.forEachValue(name) { value in
                escaped(value, to: &out)
                found = true
                return false
            }
            if !found { out.append(UInt8(ascii: "-")) }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "["))
        out.append(timestamp)
        out.append(UInt8(ascii: "]"))
        space()
        out.append(UInt8(ascii: "\""))
        text(head.method)
        space()
        ASCIIBytes.with(head.target) { target in
            // Whatever follows the enrollment prefix may be a live token.
            if let kept = EnrollmentRequest.redactedLength(target) {
                escaped(UnsafeBufferPointer(rebasing: target[..<kept]), to: &out)
                ASCIIBytes.with("…") { out.append($0) }
            } else {
                escaped(target, to: &out)
            }
        }
        space()
        // A literal for the versions requests have: no String is built.
        ASCIIBytes.with(head.version.description) { out.append($0) }
        out.append(UInt8(ascii: "\""))
        space()
        appendDecimal(status, to: &out)
        space()
        if flags.isEmpty { out.append(UInt8(ascii: "-")) }
        var firstFlag = true
        flags.forEachCode { code in
            if !firstFlag { out.append(UInt8(ascii: ",")) }
            ASCIIBytes.with(code) { out.append($0) }
            firstFlag = false
        }
        space()
        text(details)
        space()
        appendDecimal(bytesReceived, to: &out)
        space()
        appendDecimal(bytesSent, to: &out)
        space()
        appendDecimal(durationMilliseconds, to: &out)
        space()
        quotedField("x-forwarded-for")
        space()
        quotedField("user-agent")
        space()
        quoted(requestID)
        space()
        quotedField("host")
        space()
        quoted(upstreamHost)
        space()
        text(routeName)
        space()
        text(peer)
        space()
        text(serverName)
        ASCIIBytes.with(" principal=") { out.append($0) }
        text(principal)
        out.append(UInt8(ascii: "\n"))
    }

    /// Appends `bytes`, each control byte, byte past ASCII, `"` and `\` as `\xHH` (nginx's default log
    /// escaping), the rest in runs. Control bytes never reach here from the strict decoder; escaped anyway so a
    /// line stays one line. Past ASCII: U+2028, U+0085 and the like end a line for many log readers. `"` and `\`
    /// are legal in a User-Agent or a certificate's name: escaped so a client cannot close a quoted field early
    /// and forge the fields after it.
    static func escaped(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout LogBytes) {
        var run = 0
        for i in 0..<bytes.count {
            let byte = bytes[i]
            guard byte < 0x20 || byte >= 0x7F || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else {
                continue
            }
            if run < i { out.append(UnsafeBufferPointer(rebasing: bytes[run..<i])) }
            out.append(UInt8(ascii: "\\"))
            out.append(UInt8(ascii: "x"))
            out.append(Hex.digit(byte >> 4))
            out.append(Hex.digit(byte & 15))
            run = i + 1
        }
        if run < bytes.count { out.append(UnsafeBufferPointer(rebasing: bytes[run...])) }
    }

    static func appendDecimal(_ value: Int, to out: inout LogBytes) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var v = value.magnitude
        var digits = 1
        var rest = v / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        out.appendUninitialized(count: digits) { buffer in
            var i = digits
            repeat {
                i -= 1
                buffer[i] = UInt8(truncatingIfNeeded: v % 10) + 0x30
                v /= 10
            } while v > 0
        }
    }
}

/// A growable byte buffer written through a pointer, for the access log: a line's pieces are copied in
/// without an array's uniqueness and capacity checks (and their retains and releases) per piece, and the
/// memory is reused from batch to batch.
struct LogBytes: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    var isEmpty: Bool { count == 0 }

    /// Valid until the next change.
    var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        if count == capacity { grow(toHold: 1) }
        base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        if count + bytes.count > capacity { grow(toHold: bytes.count) }
        (base + count).update(from: source, count: bytes.count)
        count += bytes.count
    }

    /// Lets `body` fill the next `n` bytes.
    @inline(__always)
    mutating func appendUninitialized(count n: Int, _ body: (UnsafeMutableBufferPointer<UInt8>) -> Void) {
        if count + n > capacity { grow(toHold: n) }
        body(UnsafeMutableBufferPointer(start: base + count, count: n))
        count += n
    }

    /// Forgets the bytes; memory grown past `keeping` (one very long line) is given back.
    mutating func removeAll(keeping: Int) {
        count = 0
        guard capacity > keeping else { return }
        base.deallocate()
        capacity = keeping
        base = .allocate(capacity: keeping)
    }

    private mutating func grow(toHold n: Int) {
        let newCapacity = max(capacity * 2, count + n)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.update(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }
}

/// A loop's access-log lines waiting to be written. Every 5 ms while lines come (or sooner, past 32 KiB)
/// the waiting lines go to standard output in one hand-off to the output thread. Confined to its loop.
final class AccessLogBuffer {
    private unowned let loop: EventLoop
    private var bytes = LogBytes(capacity: AccessLogBuffer.capacity)
    private var timer: DispatchSourceTimer?
    /// Lines were added since the timer last fired; when it fires without any, it stops repeating.
    private var timerArmed = false
    private var timestamp = TimestampCache()

    static let delayMilliseconds = 5
    static let flushBytes = 32 * 1024
    static let capacity = flushBytes + 4 * 1024

    init(loop: EventLoop) { self.loop = loop }

    /// Formats `e`'s line; `peer`, `serverName` and `principal` are its connection's.
    func append(_ e: Exchange, durationMilliseconds: Int, peer: String, serverName: String?, principal: String?) {
        loop.assertOnLoop()
        if !timerArmed { armTimer() }
        timestamp.now { timestamp in
            AccessLog.appendLine(
                timestamp: timestamp, head: e.head, status: e.status, flags: e.responseFlags,
                details: e.responseDetails, bytesReceived: e.bytesReceived, bytesSent: e.bytesSent,
                durationMilliseconds: durationMilliseconds, requestID: e.requestID, upstreamHost: e.upstreamHost,
                routeName: e.routeName, peer: peer, serverName: serverName, principal: principal, to: &bytes)
        }
        if bytes.count >= AccessLogBuffer.flushBytes { flush() }
    }

    /// Hands the waiting lines to the output thread (one copy and one hand-off per batch).
    func flush() {
        guard !bytes.isEmpty else { return }
        AsyncOutput.standardOutput.write(bytes: Array(bytes.bytes))
        bytes.removeAll(keeping: AccessLogBuffer.capacity)
    }

    /// While lines keep coming the timer repeats every 5 ms, so a busy loop does not reschedule it per
    /// batch (a `schedule` call cost more than formatting a line); the first firing that finds no new
    /// lines stops it until the next line.
    private func armTimer() {
        timerArmed = true
        let interval = DispatchTimeInterval.milliseconds(AccessLogBuffer.delayMilliseconds)
        if let timer {
            timer.schedule(deadline: .now() + interval, repeating: interval)
            return
        }
        let source = DispatchSource.makeTimerSource(queue: loop.queue)
        source.setEventHandler { [unowned self] in timerFired() }
        source.schedule(deadline: .now() + interval, repeating: interval)
        source.resume()
        timer = source
    }

    private func timerFired() {
        if bytes.isEmpty {
            timerArmed = false
            timer?.schedule(deadline: .distantFuture)
        } else {
            flush()
        }
    }
}
/// `2026-11-29T18:59:00.123Z`, with the part before the milliseconds formatted once a second.
struct TimestampCache {
    private var second = -1
    private var text: [UInt8] = Array("1970-01-01T00:00:00.000Z".utf8)

    /// Calls `body` with the current time's text (valid only inside the call).
    mutating func now<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        if ts.tv_sec != second {
            second = ts.tv_sec
            let full = Array(Clock.isoTimestamp(seconds: ts.tv_sec, milliseconds: 0).utf8)
            if full.count == text.count { text = full }
        }
        let ms = Int(ts.tv_nsec / 1_000_000)
        return text.withUnsafeMutableBufferPointer { text in
            let end = text.count - 1
            text[end - 3] = UInt8(0x30 + ms / 100)
            text[end - 2] = UInt8(0x30 + ms / 10 % 10)
            text[end - 1] = UInt8(0x30 + ms % 10)
            return body(UnsafeBufferPointer(text))
        }
    }
}
