import TollgateCore

/// Streams a body out of buffered bytes according to its framing; chunked bodies are de-chunked
/// (RFC 9112 §7.1), so what comes out is payload only and the forwarder re-frames it.
struct BodyDecoder {
    enum Step {
        case data(ArraySlice<UInt8>, consumed: Int)
        case end(consumed: Int)
        case needMore(consumed: Int)
    }

    private enum State {
        case remaining(UInt64)
        case chunkSize
        case chunkData(UInt64)
        case chunkDataCRLF
        case trailers(fieldCount: Int, bytes: Int)
        case untilClose
        case done
    }

    private var state: State
    private let limits: HTTPLimits
    /// Bytes of the current chunk-size or trailer line already searched for its CRLF: a line that arrives in
    /// many small reads is searched once, not from its start on every read.
    private var searchedLineBytes = 0

    init(_ framing: BodyFraming, limits: HTTPLimits) {
        self.limits = limits
        switch framing {
        case .length(let n): state = n == 0 ? .done : .remaining(n)
        case .chunked: state = .chunkSize
        case .untilClose: state = .untilClose
        }
    }

    var isDone: Bool { if case .done = state { true } else { false } }
    var readsUntilClose: Bool { if case .untilClose = state { true } else { false } }

    /// Takes one step over `bytes`; `consumed` says how many bytes of `bytes` it used.
    mutating func step(_ bytes: ArraySlice<UInt8>) throws -> Step {
        switch state {
        case .done:
            return .end(consumed: 0)
        case .untilClose:
            return bytes.isEmpty ? .needMore(consumed: 0) : .data(bytes, consumed: bytes.count)
        case .remaining(let n):
            guard !bytes.isEmpty else { return .needMore(consumed: 0) }
            let take = Int(min(UInt64(bytes.count), n))
            let rest = n - UInt64(take)
            state = rest == 0 ? .done : .remaining(rest)
            return .data(bytes.prefix(take), consumed: take)
        case .chunkSize:
            guard let lineEnd = crlf(in: bytes) else {
                // A CR that waits for its LF is not part of the line.
                let pending = bytes.count - (bytes.last == UInt8(ascii: "\r") ? 1 : 0)
                if pending > limits.maxChunkLineBytes { throw HTTPParseError.bad("chunk size line too long") }
                if bytes.contains(UInt8(ascii: "\n")) { throw HTTPParseError.bad("bare LF in chunk size line") }
                return .needMore(consumed: 0)
            }
            let line = bytes[bytes.startIndex..<lineEnd]
            // The same bound whether the line arrived whole or in pieces (found by the request-decoder fuzzer).
            if line.count > limits.maxChunkLineBytes { throw HTTPParseError.bad("chunk size line too long") }
            let size = try Self.chunkSize(line)
            let consumed = line.count + 2
            state = size == 0 ? .trailers(fieldCount: 0, bytes: 0) : .chunkData(size)
            return .needMore(consumed: consumed)
        case .chunkData(let n):
            guard !bytes.isEmpty else { return .needMore(consumed: 0) }
            let take = Int(min(UInt64(bytes.count), n))
            let rest = n - UInt64(take)
            state = rest == 0 ? .chunkDataCRLF : .chunkData(rest)
            return .data(bytes.prefix(take), consumed: take)
        case .chunkDataCRLF:
            guard bytes.count >= 2 else { return .needMore(consumed: 0) }
            guard bytes[bytes.startIndex] == UInt8(ascii: "\r"), bytes[bytes.startIndex + 1] == UInt8(ascii: "\n")
            else {
                throw HTTPParseError.bad("chunk data not followed by CRLF")
            }
            state = .chunkSize
            return .needMore(consumed: 2)
        case .trailers(let count, let total):
            guard let lineEnd = crlf(in: bytes) else {
                if total + bytes.count > limits.maxHeaderBytes {
                    throw HTTPParseError(status: 431, "trailers too large")
                }
                return .needMore(consumed: 0)
            }
            let lineLength = lineEnd - bytes.startIndex
            if lineLength == 0 {
                state = .done
                return .end(consumed: 2)
            }
            // Trailer fields are read and dropped: nothing downstream of the gateway needs them.
            let line = bytes[bytes.startIndex..<lineEnd]
            try HeadParser.checkFieldLine(line)
            guard count + 1 <= limits.maxHeaderCount, total + lineLength + 2 <= limits.maxHeaderBytes else {
                throw HTTPParseError(status: 431, "trailers too large")
            }
            state = .trailers(fieldCount: count + 1, bytes: total + lineLength + 2)
            return .needMore(consumed: lineLength + 2)
        }
    }

    /// The CRLF ending the line that starts `bytes`, searching only what earlier calls have not (less one
    /// byte: a CR may have been waiting for its LF). Resets once the line is found.
    private mutating func crlf(in bytes: ArraySlice<UInt8>) -> Int? {
        var i = bytes.startIndex + Swift.max(0, searchedLineBytes - 1)
        while i + 1 < bytes.endIndex {
            if bytes[i] == UInt8(ascii: "\r"), bytes[i + 1] == UInt8(ascii: "\n") {
                searchedLineBytes = 0
                return i
            }
            i += 1
        }
        searchedLineBytes = bytes.count
        return nil
    }

    /// chunk-size [ chunk-ext ]: 1–16 hex digits; extensions are allowed and ignored.
    static func chunkSize(_ line: ArraySlice<UInt8>) throws -> UInt64 {
        var size: UInt64 = 0
        var digits = 0
        var index = line.startIndex
        while index < line.endIndex, let v = Hex.value(line[index]) {
            guard digits < 16 else { throw HTTPParseError.bad("chunk size too large") }
            size = size << 4 | UInt64(v)
            digits += 1
            index += 1
        }
        guard digits > 0 else { throw HTTPParseError.bad("invalid chunk size") }
        if index < line.endIndex {
            var rest = line[index...]
            while let b = rest.first, b == 0x20 || b == 0x09 { rest.removeFirst() }
            guard rest.first == UInt8(ascii: ";") else { throw HTTPParseError.bad("invalid chunk size") }
            for b in rest where !(b == 0x09 || (b >= 0x20 && b != 0x7F)) {
                throw HTTPParseError.bad("control character in chunk extension")
            }
        }
        return size
    }
}
