import TollgateCore
import TollgateTLS

/// Reads a PROXY protocol header off the socket before the connection's own protocol starts, and then
/// hands over to it. The header is looked at with `MSG_PEEK` and only its own bytes are taken, so TLS
/// (reading the socket itself) begins exactly at the ClientHello. A connection that does not begin
/// with a valid header fails: behind a balancer that sends one, anything else is not from it.
final class ProxyProtocolTransport: Transport {
    private let fd: Int32
    private let inner: Transport
    /// The client the balancer reports; nil until the header is read, or for a LOCAL/UNKNOWN header.
    private(set) var source: (address: IPAddress, port: Int)?
    private var headerRead = false

    init(fd: Int32, inner: Transport) {
        self.fd = fd
        self.inner = inner
    }

    func handshake() -> TLSIOResult {
        if !headerRead {
            switch readHeader() {
            case .done: headerRead = true
            case let other: return other
            }
        }
        return inner.handshake()
    }

    private func readHeader() -> TLSIOResult {
        var peeked = [UInt8](repeating: 0, count: ProxyProtocolHeader.maxLength)
        let count: Int
        do {
            switch try peeked.withUnsafeMutableBytes({ try System.peek(fd, $0) }) {
            case .wouldBlock: return .wantRead
            case .done(0): return .closed
            case .done(let n): count = n
            }
        } catch {
            return .failed(TLSFailure("\(error)"))
        }
        let header: ProxyProtocolHeader
        do {
            switch try ProxyProtocolHeader.parse(Array(peeked.prefix(count))) {
            case .needMore: return .wantRead
            case .header(let parsed): header = parsed
            }
        } catch {
            return .failed(TLSFailure("PROXY protocol: \(error)"))
        }
        var consumed = [UInt8](repeating: 0, count: header.length)
        // The bytes were there a moment ago and nothing else reads this socket: this takes them all.
        guard case .done(header.length)? = try? consumed.withUnsafeMutableBytes({ try System.read(fd, $0) }) else {
            return .failed(TLSFailure("PROXY protocol: the header could not be consumed"))
        }
        source = header.source
        return .done(0)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> TLSIOResult { inner.read(into: buffer) }
    func write(_ buffer: UnsafeRawBufferPointer) -> TLSIOResult { inner.write(buffer) }
    var pendingBytes: Int { inner.pendingBytes }
    var shortReadDrainsSocket: Bool { inner.shortReadDrainsSocket }
    func shutdown() { inner.shutdown() }
}
