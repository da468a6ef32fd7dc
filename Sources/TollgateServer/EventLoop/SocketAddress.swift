#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 or IPv6 socket address. Its text form is computed once: addresses are compared and hashed
/// on the request path (pool lookups), where formatting them each time showed up in profiles.
public struct SocketAddress: Sendable, CustomStringConvertible, Hashable {
    let storage: sockaddr_storage
    /// Numeric host without port (`127.0.0.1`, `::1`).
    public let host: String
    public let port: Int

    init(storage: sockaddr_storage) {
        self.storage = storage
        var copy = storage
        let family = Int32(storage.ss_family)
        let length =
            family == AF_INET6 ? socklen_t(MemoryLayout<sockaddr_in6>.size) : socklen_t(MemoryLayout<sockaddr_in>.size)
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        _ = withUnsafePointer(to: &copy) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST)
            }
        }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        host = text.hasPrefix("::ffff:") && text.contains(".") ? String(text.dropFirst(7)) : text
        port = withUnsafePointer(to: &copy) { pointer in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    Int(UInt16(bigEndian: $0.pointee.sin6_port))
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                Int(UInt16(bigEndian: $0.pointee.sin_port))
            }
        }
        description = family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    var length: socklen_t {
        Int32(storage.ss_family) == AF_INET6
            ? socklen_t(MemoryLayout<sockaddr_in6>.size) : socklen_t(MemoryLayout<sockaddr_in>.size)
    }

    var family: Int32 { Int32(storage.ss_family) }

    public let description: String

    /// Resolves `host:port` with getaddrinfo. Blocks: call it off the event loops only.
    public static func resolve(host: String, port: Int) throws -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw ResolutionError(host: host, message: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { dst in
                dst.copyMemory(
                    from: UnsafeRawBufferPointer(start: info.pointee.ai_addr, count: Int(info.pointee.ai_addrlen)))
            }
            let address = SocketAddress(storage: storage)
            if !addresses.contains(address) { addresses.append(address) }
            cursor = info.pointee.ai_next
        }
        // Prefer IPv4 first: loopback services commonly listen on 127.0.0.1 only.
        return addresses.filter { $0.family == AF_INET } + addresses.filter { $0.family != AF_INET }
    }
}

public struct ResolutionError: Error, CustomStringConvertible, Sendable {
    public let host: String
    public let message: String
    public var description: String { "cannot resolve \(host): \(message)" }
}
