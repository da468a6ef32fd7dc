import HTTP1

/// What the HTTP/1.1 decoders have in common, so one driver feeds both.
public protocol FuzzedDecoder {
    associatedtype Head: Equatable & Sendable
    mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8
    mutating func next() throws -> MessageEvent<Head>?
    mutating func finishAtEOF() throws -> MessageEvent<Head>?
    mutating func prepareForNextMessage()
}

extension RequestDecoder: FuzzedDecoder {}
extension ResponseDecoder: FuzzedDecoder {}

/// Everything a decoder reported for one input, with adjacent body pieces joined: how the bytes were
/// split may change where a body is cut into pieces, but nothing else.
public struct DecoderTranscript<Head: Equatable & Sendable>: Equatable {
    public enum Entry: Equatable {
        case head(Head)
        case body([UInt8])
        case end
        case error(HTTPParseError)

        /// Errors compare by status, the verdict the peer gets. The reason names the first problem seen, and
        /// how much was buffered may decide which one that is ("bare LF in chunk size line" byte by byte,
        /// "invalid chunk size" whole): a log-line difference, not a different verdict.
        public static func == (lhs: Entry, rhs: Entry) -> Bool {
            switch (lhs, rhs) {
            case (.head(let a), .head(let b)): a == b
            case (.body(let a), .body(let b)): a == b
            case (.end, .end): true
            case (.error(let a), .error(let b)): a.status == b.status
            default: false
            }
        }
    }

    public private(set) var entries: [Entry] = []

    /// Feeds `pieces` in order, then the end of the stream, pipelining through every complete message.
    /// `beforeMessage` sets per-message state (a response decoder's HEAD flag) from the message's index.
    public init<D: FuzzedDecoder>(
        _ decoder: D, pieces: [ArraySlice<UInt8>], input: FuzzInput,
        beforeMessage: (inout D, Int) -> Void = { _, _ in }
    ) where D.Head == Head {
        var decoder = decoder
        var messages = 0
        beforeMessage(&decoder, 0)
        do {
            for piece in pieces {
                decoder.append(piece)
                while let event = try decoder.next() {
                    record(event, input: input)
                    if case .end = event {
                        messages += 1
                        decoder.prepareForNextMessage()
                        beforeMessage(&decoder, messages)
                    }
                }
            }
            while let event = try decoder.finishAtEOF() {
                record(event, input: input)
                if case .end = event { break }
            }
        } catch let error as HTTPParseError {
            entries.append(.error(error))
        } catch {
            input.fail("decoder threw \(type(of: error)), not HTTPParseError: \(error)")
        }
    }

    /// Keeps events in the order a message allows (head, body pieces, end) and joins body pieces.
    private mutating func record(_ event: MessageEvent<Head>, input: FuzzInput) {
        let inMessage = entries.last.map { if case .end = $0 { false } else { true } } ?? false
        switch event {
        case .head(let head):
            if inMessage { input.fail("a head arrived inside a message") }
            entries.append(.head(head))
        case .body(let bytes):
            if !inMessage { input.fail("body bytes arrived outside a message") }
            if bytes.isEmpty { input.fail("an empty body event") }
            if case .body(let earlier) = entries.last {
                entries[entries.count - 1] = .body(earlier + bytes)
            } else {
                entries.append(.body(bytes))
            }
        case .end:
            if !inMessage { input.fail("an end arrived outside a message") }
            entries.append(.end)
        }
    }
}

/// A header field name or value that could end a line or a C string where it is written next.
public func containsLineBreakOrNUL(_ text: String) -> Bool {
    text.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
}
