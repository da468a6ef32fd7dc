import TollgateCore

extension RequestHead {
    /// The head as a gateway routes, authorizes and forwards it: an absolute-form target becomes origin-form
    /// with its authority as `Host` (RFC 9112 §3.2.2), and underscore spellings of protected fields are
    /// removed (`UnderscoreHeaders`). Returns the names it removed, for a debug log.
    public func preparedForProxying() -> (head: RequestHead, droppedHeaders: [String]) {
        var head = self
        let dropped = UnderscoreHeaders.remove(from: &head.headers)
        if case .absolute(let authority, let originForm)? = try? RequestTarget.parse(target, method: method) {
            head.target = originForm
            head.headers.set("host", authority)
        }
        return (head, dropped)
    }
}
