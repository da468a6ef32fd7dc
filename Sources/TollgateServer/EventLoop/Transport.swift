import TollgateTLS

/// How bytes cross a socket: in the clear, or through a TLS session. Used on the owning loop only.
protocol Transport: AnyObject {
    /// Drives the handshake, if any; `.done` once application data can flow.
    func handshake() -> TLSIOResult
    func read(into buffer: UnsafeMutableRawBufferPointer) -> TLSIOResult
    func write(_ buffer: UnsafeRawBufferPointer) -> TLSIOResult
    /// Bytes already received and decrypted but not yet returned by `read`.
    var pendingBytes: Int { get }
    /// A read that returned less than asked for emptied the socket (true for a plain socket; a TLS
    /// read returns one record at most, whatever the socket holds).
    var shortReadDrainsSocket: Bool { get }
    func shutdown()
}

final class PlainTransport: Transport {
    let fd: Int32

    init(fd: Int32) { self.fd = fd }

    func handshake() -> TLSIOResult { .done(0) }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> TLSIOResult {
        do {
            switch try System.read(fd, buffer) {
            case .wouldBlock: return .wantRead
            case .done(0): return .closed
            case .done(let n): return .done(n)
            }
        } catch {
            return .failed(TLSFailure("\(error)"))
        }
    }

    func write(_ buffer: UnsafeRawBufferPointer) -> TLSIOResult {
        do {
            switch try System.write(fd, buffer) {
            case .wouldBlock: return .wantWrite
            case .done(let n): return .done(n)
            }
        } catch {
            return .failed(TLSFailure("\(error)"))
        }
    }

    var pendingBytes: Int { 0 }
    var shortReadDrainsSocket: Bool { true }
    func shutdown() {}
}

extension TLSConnection: Transport {
    var shortReadDrainsSocket: Bool { false }
}
