import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Client connections are spread evenly over the loops. Each loop has its own `SO_REUSEPORT` socket, and
/// the kernel's hash alone leaves one loop with more connections than the other (28/22 of 50 is common),
/// whose clients then wait longer for every request.
final class LoopBalanceTests: XCTestCase {
    func testConnectionsAreSpreadEvenlyOverTheLoops() throws {
        let harness = try GatewayHarness()
        defer { harness.stop() }
        try harness.write("vs.yaml", Manifests.virtualService())
        try harness.write("gw.yaml", Manifests.gateway(mode: "SIMPLE"))
        try harness.startGateway()
        let pid = try XCTUnwrap(harness.gateway).process.processIdentifier

        let count = 60
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        for _ in 0..<count { sockets.append(try Network.connect(harness.port())) }
        var perLoop: [Int] = []
        do {
            try waitUntil("the gateway to take all \(count) connections") {
                perLoop = Self.clientConnectionsPerEpollSet(pid, port: harness.port()).filter { $0 > 0 }
                return perLoop.reduce(0, +) == count
            }
        } catch {
            XCTFail("\(error): \(perLoop)")
            throw error
        }
        // The gateway runs with --loops 2: each loop took half.
        XCTAssertEqual(perLoop.count, 2, "\(perLoop)")
        XCTAssertLessThanOrEqual((perLoop.max() ?? 0) - (perLoop.min() ?? 0), 1, "connections per loop: \(perLoop)")
    }

    /// For each epoll set of `pid` (the loops' and Dispatch's own), how many of the descriptors it watches
    /// (the `tfd:` lines of its fdinfo) are connections accepted on `port`.
    static func clientConnectionsPerEpollSet(_ pid: Int32, port: Int) -> [Int] {
        // Inodes of the TCP sockets whose local port is `port` and that are not listening (state 0A).
        // Read to the end: /proc files report no size, and a sized read stops after the first page.
        let table = String(
            decoding: FileHandle(forReadingAtPath: "/proc/net/tcp")?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
        let accepted = Set(
            table.split(separator: "\n").dropFirst().compactMap { line -> String? in
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[3] != "0A",
                    fields[1].hasSuffix(":" + String(format: "%04X", port))
                else { return nil }
                return "socket:[\(fields[9])]"
            })
        let directory = "/proc/\(pid)/fd"
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        func target(_ fd: Substring) -> String? {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(fd)")
        }
        return fds.compactMap { fd -> Int? in
            guard target(Substring(fd)) == "anon_inode:[eventpoll]",
                let data = FileHandle(forReadingAtPath: "/proc/\(pid)/fdinfo/\(fd)")?.readDataToEndOfFile()
            else { return nil }
            let info = String(decoding: data, as: UTF8.self)
            return info.split(separator: "\n").filter { line in
                guard line.hasPrefix("tfd:"), let watched = line.split(separator: " ").dropFirst().first,
                    let socket = target(watched)
                else { return false }
                return accepted.contains(socket)
            }.count
        }
    }
}
