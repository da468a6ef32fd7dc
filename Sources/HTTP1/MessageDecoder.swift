import TollgateCore

/// What a decoder yields, in order: one head, zero or more body pieces, one end.
public enum MessageEvent<Head: Sendable>: Sendable {
    case head(Head)
    case body([UInt8])
    case end
}

/// Incremental HTTP/1.1 message decoder: bytes go in with `append`, events come out of `next()`
/// (nil means "need more bytes"). After `.end` it yields nothing until `prepareForNextMessage()`,
/// so a pipelined next request stays buffered until the current exchange is finished.
/// A value type with no I/O; its owner decides when to read more.
struct MessageDecoder<Head: Sendable> {
    enum State {
        case head
        case body(BodyDecoder)
        case complete
    }

    private(set) var buffer: [UInt8] = []
    private var readIndex = 0
    private var scanFrom = 0
    private(set) var state: State = .head
    let limits: HTTPLimits
    /// Requests only: checks the request line as it arrives, so garbage is refused before its newline.
    private var requestLine: RequestLineScanner?

    init(limits: HTTPLimits, scansRequestLine: Bool = false) {
        self.limits = limits
        requestLine = scansRequestLine ? RequestLineScanner() : nil
    }

    var bufferedByteCount: Int { buffer.count - readIndex }
    var isIdle: Bool { if case .head = state { bufferedByteCount == 0 } else { false } }
    var isComplete: Bool { if case .complete = state { true } else { false } }

    mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// What a socket read hands over: copied with one memcpy (the generic append, called across modules
    /// without specialization, went byte by byte through the collection's witnesses).
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compact()
        bytes.withMemoryRebound(to: UInt8.self) { buffer.append(contentsOf: $0) }
    }

    private mutating func compact() {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            buffer.removeFirst(readIndex)
            scanFrom -= readIndex
            readIndex = 0
        }
    }

    mutating func prepareForNextMessage() {
        guard case .complete = state else { return }
        state = .head
        // A buffer grown by a large body would otherwise stay with the connection while it idles; a small
        // one is kept for the next message.
        if readIndex == buffer.count && buffer.capacity > Self.keptCapacity {
            buffer = []
            readIndex = 0
            scanFrom = 0
        }
    }

    /// The most buffer capacity kept between messages once everything buffered was decoded.
    static var keptCapacity: Int { 16 * 1024 }

    /// Decodes the next event. `parseHead` turns a complete head into a value and its body framing.
    mutating func next(parseHead: (ArraySlice<UInt8>) throws -> (Head, BodyFraming)) throws -> MessageEvent<Head>? {
        if pendingEnd {
            pendingEnd = false
            return .end
        }
        while true {
            switch state {
            case .complete:
                return nil
            case .head:
                // Empty lines before a request line are ignored (RFC 9112 §2.2).
                while buffer.count - readIndex >= 2, buffer[readIndex] == UInt8(ascii: "\r"),
                    buffer[readIndex + 1] == UInt8(ascii: "\n")
                {
                    readIndex += 2
                    // The scanner may have seen the CR of this pair, never the bytes after it.
                    requestLine?.reset()
                }
                scanFrom = max(scanFrom, readIndex)
                guard let end = try findHeadEnd() else {
                    if buffer.count - readIndex > limits.maxHeaderBytes {
                        throw HTTPParseError(status: 431, "message head larger than \(limits.maxHeaderBytes) bytes")
                    }
                    return nil
                }
                guard end - readIndex <= limits.maxHeaderBytes else {
                    throw HTTPParseError(status: 431, "message head larger than \(limits.maxHeaderBytes) bytes")
                }
                let head = buffer[readIndex..<end]
                readIndex = end + 4
                scanFrom = readIndex
                let (value, framing) = try parseHead(head)
                let decoder = BodyDecoder(framing, limits: limits)
                state = decoder.isDone ? .complete : .body(decoder)
                if decoder.isDone { pendingEnd = true }
                return .head(value)
            case .body(var decoder):
                let step = try decoder.step(buffer[readIndex...])
                switch step {
                case .data(let slice, let consumed):
                    readIndex += consumed
                    state = decoder.isDone ? .complete : .body(decoder)
                    if decoder.isDone { pendingEnd = true }
                    return .body(Array(slice))
                case .end(let consumed):
                    readIndex += consumed
                    state = .complete
                    return .end
                case .needMore(let consumed):
                    readIndex += consumed
                    state = .body(decoder)
                    if consumed == 0 { return nil }
                }
            }
        }
    }

    /// Set when a body completed inside the step that produced data, so `.end` follows at once.
    private var pendingEnd = false

    /// Hands over every byte not yet decoded and stops decoding: after a protocol switch (RFC 9110 §7.8)
    /// the bytes that follow the message belong to the new protocol.
    mutating func takeUnparsedBytes() -> [UInt8] {
        let rest = Array(buffer[readIndex...])
        buffer = []
        readIndex = 0
        scanFrom = 0
        pendingEnd = false
        state = .complete
        return rest
    }

    /// The peer closed: a body delimited by close ends here; anything else unfinished is an error.
    mutating func finishAtEOF() throws -> MessageEvent<Head>? {
        if pendingEnd {
            pendingEnd = false
            return .end
        }
        switch state {
        case .body(let decoder) where decoder.readsUntilClose:
            state = .complete
            return .end
        case .head where bufferedByteCount == 0, .complete:
            return nil
        default:
            throw HTTPParseError.bad("connection closed inside a message")
        }
    }

    /// Finds the CRLFCRLF that ends the head, scanning only bytes not seen before. Fails fast on bytes no
    /// valid head contains (control characters, a LF without CR, a request line of the wrong shape), so
    /// garbage is refused at once rather than waited on until the header timeout.
    private mutating func findHeadEnd() throws -> Int? {
        var i = Swift.max(scanFrom, readIndex)
        let count = buffer.count
        while i < count {
            let b = buffer[i]
            if b < 0x20 || b == 0x7F {
                if b == UInt8(ascii: "\n") {
                    guard i > readIndex, buffer[i - 1] == UInt8(ascii: "\r") else {
                        throw HTTPParseError.bad("bare LF in message head")
                    }
                    if i >= readIndex + 3, buffer[i - 2] == UInt8(ascii: "\n"), buffer[i - 3] == UInt8(ascii: "\r") {
                        requestLine?.reset()
                        return i - 3
                    }
                } else if b != UInt8(ascii: "\r") && b != UInt8(ascii: "\t") {
                    throw HTTPParseError.bad("control character in message head")
                }
            }
            if requestLine != nil, !requestLine!.isDone { try requestLine!.consume(b) }
            i += 1
        }
        scanFrom = count
        return nil
    }
}
