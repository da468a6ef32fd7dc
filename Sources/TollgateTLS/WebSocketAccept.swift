internal import COpenSSL
import TollgateCore

/// The `Sec-WebSocket-Accept` value a server answers a key with (RFC 6455 §4.2.2 step 5.4): base64 of
/// SHA-1 over the key and the protocol's GUID. SHA-1 is the protocol's fixed choice here, not a security
/// property: the value only proves the server read the handshake.
public enum WebSocketAccept {
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    public static func value(forKey key: String) -> String {
        let input = Array((key + guid).utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        _ = input.withUnsafeBufferPointer { SHA1($0.baseAddress, $0.count, &digest) }
        return Base64.encode(digest)
    }
}
