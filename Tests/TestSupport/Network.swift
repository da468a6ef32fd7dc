import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public enum Network {
    /// A TCP port that was free a moment ago (the kernel picks it; the socket is closed at once).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw HarnessError("cannot find a free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    public static func isListening(_ port: Int) -> Bool {
        guard let fd = try? connect(port) else { return false }
        close(fd)
        return true
    }

    /// A TCP connection to 127.0.0.1:`port`; the caller closes it.
    public static func connect(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            throw HarnessError("cannot connect to port \(port)")
        }
        return fd
    }

    public static func waitForListening(_ port: Int, process: ManagedProcess? = nil, timeout: TimeInterval = 15) throws
    {
        try waitUntil(
            timeout: timeout,
            "port \(port) to accept connections\(process.map { " (\($0.name) log: \($0.log))" } ?? "")"
        ) {
            if let process, !process.process.isRunning { return true }
            return isListening(port)
        }
        if let process, !process.process.isRunning {
            throw HarnessError("\(process.name) exited with \(process.process.terminationStatus): \(process.log)")
        }
    }
}
