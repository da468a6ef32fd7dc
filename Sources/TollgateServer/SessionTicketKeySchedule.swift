import Dispatch
import Foundation
import Logging
import TollgateTLS

/// Keeps `SessionTicketKeyRing.shared` fresh, off the event loops: either from a key file shared by
/// replicas (watched like the configuration; a bad edit is logged and the last good keys stay), or
/// random keys rotated on a schedule, the previous ones kept for opening tickets (as Caddy does).
public final class SessionTicketKeySchedule: @unchecked Sendable {
    private let queue = DispatchQueue(label: "tollgate.session-ticket-keys")
    private var timer: DispatchSourceTimer?
    private var watcher: ConfigWatcher?

    /// Loads `path` now (a bad file is an error at start) and reloads it whenever it changes.
    public static func file(_ path: String, logger: Logger) throws -> SessionTicketKeySchedule {
        SessionTicketKeyRing.shared.replace(with: try read(path))
        let schedule = SessionTicketKeySchedule()
        let watcher = ConfigWatcher(paths: [path]) {
            do {
                let keys = try read(path)
                SessionTicketKeyRing.shared.replace(with: keys)
                logger.info("session ticket keys reloaded", metadata: ["file": "\(path)", "keys": "\(keys.count)"])
            } catch {
                logger.error("session ticket keys rejected; keeping the previous ones", metadata: ["error": "\(error)"])
            }
        }
        watcher.start()
        schedule.watcher = watcher
        return schedule
    }

    /// A fresh random key every `interval`; `keep` keys in all open tickets.
    public static func rotating(every interval: DispatchTimeInterval, keep: Int) -> SessionTicketKeySchedule {
        let schedule = SessionTicketKeySchedule()
        let timer = DispatchSource.makeTimerSource(queue: schedule.queue)
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .seconds(60))
        timer.setEventHandler { SessionTicketKeyRing.shared.rotate(keep: keep) }
        timer.resume()
        schedule.timer = timer
        return schedule
    }

    static func read(_ path: String) throws -> [[UInt8]] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SessionTicketKeyRing.FileError(
                line: nil, message: "\(path): cannot read: \(error.localizedDescription)")
        }
        do {
            return try SessionTicketKeyRing.parse(text)
        } catch let error as SessionTicketKeyRing.FileError {
            throw SessionTicketKeyRing.FileError(
                line: nil, message: "\(path):\(error.line.map(String.init) ?? "") \(error.message)")
        }
    }

    public func stop() {
        timer?.cancel()
        watcher?.stop()
    }
}
