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
