import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A screen: size in CSS pixels, device pixel ratio, and whether it is a phone's (the page's
/// `<meta name="viewport">` honoured, so a page without one is laid out 980 px wide).
public struct BrowserViewport: Sendable {
    public var width: Int
    public var height: Int
    public var scale: Double
    public var mobile: Bool

    public init(width: Int, height: Int, scale: Double, mobile: Bool) {
        self.width = width
        self.height = height
        self.scale = scale
        self.mobile = mobile
    }
}

/// A running browser a test drives page by page: Chromium over DevTools, Firefox over Marionette.
public protocol PageDriver: AnyObject {
    /// Loads `url` at `viewport`; returns the browser's network error name when the load failed.
    func load(_ url: String, viewport: BrowserViewport, timeout: Double) throws -> String?
    /// The value of a JavaScript expression in the page (JSON-able values only).
    func evaluate(_ expression: String) throws -> Any?
    /// The browser's own log, for failure messages.
    var stderrTail: String { get }
    func close()
}

extension PageDriver {
    public func load(_ url: String, viewport: BrowserViewport) throws -> String? {
        try load(url, viewport: viewport, timeout: 30)
    }
}

/// Waits (at most until `deadline`, a second at a time) for bytes on `fd` and appends what one read returns
/// to `buffer`. Returns false when the deadline passed with nothing read; throws when the peer closed.
func readSome(_ fd: Int32, into buffer: inout [UInt8], until deadline: Date, closed: @autoclosure () -> String) throws
    -> Bool
{
    while true {
        let remaining = deadline.timeIntervalSinceNow
        guard remaining > 0 else { return false }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(min(remaining, 1) * 1000)) >= 0 || errno == EINTR else {
            throw HarnessError("poll: \(errno)")
        }
        guard descriptor.revents != 0 else { continue }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw HarnessError(closed()) }
        buffer += chunk[..<n]
        return true
    }
}
