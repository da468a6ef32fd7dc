internal import CLinux
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Random words for request ids and weighted picks, drawn from the kernel 4 KiB at a time: one
/// `getrandom` per 256 request ids instead of three system calls per request. Shared by the loops
/// under a lock held for a few nanoseconds.
final class RandomPool: @unchecked Sendable {
    static let shared = RandomPool()

    private let lock = NSLock()
    private var words = [UInt64](repeating: 0, count: 512)
    private var index = 512

    func next() -> UInt64 {
        lock.withLock {
            if index == words.count { refill() }
            defer { index += 1 }
            return words[index]
        }
    }

    private func refill() {
        let filled = words.withUnsafeMutableBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let n = getrandom(buffer.baseAddress! + offset, buffer.count - offset, 0)
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
        if !filled {
            var generator = SystemRandomNumberGenerator()
            for i in words.indices { words[i] = generator.next() }
        }
        index = 0
    }
}
