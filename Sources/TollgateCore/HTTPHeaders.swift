/// An ordered list of header fields. Names keep the case they arrived in; lookups ignore case
/// (RFC 9110 §5.1). Order matters for forwarding, so this is a list, not a dictionary.
///
/// Stored as bytes: one buffer holds names and values (for a parsed head, its field section as it arrived,
/// copied once) and one record per field gives their offsets. Parsing, looking up, removing and encoding
/// fields then build no String per name and value (two per field before, most of a request's malloc and
/// retain/release); a String is made only when a caller asks for one. Removing a field drops its record
/// only; its bytes stay until the value is gone.
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    /// Where one field's name and value are in `storage`.
    public struct Span: Sendable {
        public var name: Range<Int>
        public var value: Range<Int>
        public init(name: Range<Int>, value: Range<Int>) {
            self.name = name
            self.value = value
        }
    }

    @usableFromInline var storage: [UInt8]
    @usableFromInline var spans: [Span]

    public init(_ fields: [(String, String)] = []) {
        storage = []
        spans = []
        spans.reserveCapacity(fields.count)
        for (name, value) in fields { add(name, value) }
    }

    /// Fields whose bytes are already in `storage` (a parser's copy of the field section); the caller has
    /// validated them.
    public init(storage: [UInt8], spans: [Span]) {
        self.storage = storage
        self.spans = spans
    }

    public var fields: [(name: String, value: String)] { map { $0 } }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        guard lhs.spans.count == rhs.spans.count else { return false }
        return lhs.storage.withUnsafeBufferPointer { l in
            rhs.storage.withUnsafeBufferPointer { r in
                zip(lhs.spans, rhs.spans).allSatisfy { a, b in
                    l[a.name].elementsEqual(r[b.name]) && l[a.value].elementsEqual(r[b.value])
                }
            }
        }
    }

    public struct Iterator: IteratorProtocol {
        let headers: HTTPHeaders
        var position = 0
        public mutating func next() -> (name: String, value: String)? {
            guard position < headers.spans.count else { return nil }
            defer { position += 1 }
            return (headers.name(at: position), headers.value(at: position))
        }
    }

    public func makeIterator() -> Iterator { Iterator(headers: self) }

    public var count: Int { spans.count }
    /// Bytes stored for names and values (what encoding the fields takes, less separators).
    public var byteCount: Int { storage.count }
    public var isEmpty: Bool { spans.isEmpty }

    func name(at i: Int) -> String { String(decoding: storage[spans[i].name], as: UTF8.self) }
    func value(at i: Int) -> String { String(decoding: storage[spans[i].value], as: UTF8.self) }

    /// Calls `body` with each field's name and value bytes, in order (valid only inside the call).
    public func forEachField(_ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
        try storage.withUnsafeBufferPointer { s in
            for span in spans { try body(s.extracting(span.name), s.extracting(span.value)) }
        }
    }

    /// Calls `body` with the value bytes of each `name` field, in order; `body` returns false to stop.
    public func forEachValue(_ name: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> Bool) rethrows {
        try ASCIIBytes.with(name) { n in
            try storage.withUnsafeBufferPointer { s in
                for span in spans where ASCIIBytes.equalsIgnoringCase(s.extracting(span.name), n) {
                    guard try body(s.extracting(span.value)) else { return }
                }
            }
        }
    }

    /// Positions of the fields named `name`.
    private func positions(_ name: String) -> [Int] {
        ASCIIBytes.with(name) { n in
            storage.withUnsafeBufferPointer { s in
                spans.indices.filter { ASCIIBytes.equalsIgnoringCase(s.extracting(spans[$0].name), n) }
            }
        }
    }

    private func firstPosition(_ name: String) -> Int? {
        ASCIIBytes.with(name) { n in
            storage.withUnsafeBufferPointer { s in
                spans.firstIndex { ASCIIBytes.equalsIgnoringCase(s.extracting($0.name), n) }
            }
        }
    }

    /// The first value of `name`, or nil.
    public subscript(name: String) -> String? {
        firstPosition(name).map(value(at:))
    }

    /// All values of `name`, in order.
    public func values(_ name: String) -> [String] {
        positions(name).map(value(at:))
    }

    /// How many `name` fields there are.
    public func count(_ name: String) -> Int {
        var n = 0
        forEachValue(name) { _ in
            n += 1
            return true
        }
        return n
    }

    /// All values of `name` joined with `,`, as intermediaries may combine them (RFC 9110 §5.3).
    public func combined(_ name: String) -> String? {
        let all = positions(name)
        if all.count == 1 { return value(at: all[0]) }
        return all.isEmpty ? nil : all.map(value(at:)).joined(separator: ",")
    }

    public func contains(_ name: String) -> Bool {
        firstPosition(name) != nil
    }

    /// Room for `bytes` more name and value bytes and `fields` more fields: a copy about to be edited is then
    /// copied once, with that room, rather than again each time an added field outgrows it.
    public mutating func reserveCapacity(addingBytes bytes: Int, fields: Int) {
        storage.reserveCapacity(storage.count + bytes)
        spans.reserveCapacity(spans.count + fields)
    }

    public mutating func add(_ name: String, _ value: String) {
        let nameStart = storage.count
        storage.append(contentsOf: name.utf8)
        let valueStart = storage.count
        storage.append(contentsOf: value.utf8)
        spans.append(Span(name: nameStart..<valueStart, value: valueStart..<storage.count))
    }

    /// Replaces every value of `name` with one value, keeping the position of the first.
    public mutating func set(_ name: String, _ value: String) {
        guard let first = firstPosition(name) else {
            add(name, value)
            return
        }
        let valueStart = storage.count
        storage.append(contentsOf: value.utf8)
        spans[first].value = valueStart..<storage.count
        if first + 1 < spans.count { removeFields(from: first + 1) { $0.equalsIgnoringCase(name) } }
    }

    public mutating func remove(_ name: String) {
        ASCIIBytes.with(name) { n in removeFields { ASCIIBytes.equalsIgnoringCase($0.bytes, n) } }
    }

    public mutating func removeAll(where predicate: (String) -> Bool) {
        removeFields { predicate(String(decoding: $0.bytes, as: UTF8.self)) }
    }

    /// Removes the fields (from position `start` on) whose name `match`es, comparing bytes in place.
    public mutating func removeFields(from start: Int = 0, where match: (FieldName) throws -> Bool) rethrows {
        let bytes = storage
        try bytes.withUnsafeBufferPointer { s in
            var kept = start
            for i in start..<spans.count {
                let span = spans[i]
                if try match(FieldName(bytes: s.extracting(span.name))) { continue }
                if kept != i { spans[kept] = span }
                kept += 1
            }
            if kept < spans.count { spans.removeLast(spans.count - kept) }
        }
    }

    /// Whether a comma-separated item of a `name` field equals `token` (ASCII case-insensitive, trimmed):
    /// `tokens(name).contains(token)` for a lower-case `token`, without building the list.
    public func containsToken(_ name: String, _ token: String) -> Bool {
        var found = false
        ASCIIBytes.with(token) { t in
            forEachValue(name) { value in
                ASCIIBytes.forEachListItem(value) { item in
                    if ASCIIBytes.equalsIgnoringCase(item, t) { found = true }
                    return !found
                }
                return !found
            }
        }
        return found
    }

    /// Comma-separated tokens of every `name` field, lower-cased (for `Connection`, `Transfer-Encoding`).
    public func tokens(_ name: String) -> [String] {
        var out: [String] = []
        forEachValue(name) { value in
            ASCIIBytes.forEachListItem(value) { item in
                out.append(ASCIIBytes.lowercasedString(item))
                return true
            }
            return true
        }
        return out
    }

    /// The last comma-separated token of the last `name` field, lower-cased (the final transfer coding).
    public func lastToken(_ name: String) -> String? {
        var last: String?
        forEachValue(name) { value in
            ASCIIBytes.forEachListItem(value) { item in
                last = ASCIIBytes.lowercasedString(item)
                return true
            }
            return true
        }
        return last
    }
}

/// A field's name bytes, for predicates that must not build a String per field.
public struct FieldName {
    public let bytes: UnsafeBufferPointer<UInt8>

    public init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    public func equalsIgnoringCase(_ name: String) -> Bool {
        guard name.utf8.count == bytes.count else { return false }
        return ASCIIBytes.with(name) { ASCIIBytes.equalsIgnoringCase(bytes, $0) }
    }

    public func hasPrefixIgnoringCase(_ prefix: String) -> Bool {
        ASCIIBytes.with(prefix) { p in
            p.count <= bytes.count && ASCIIBytes.equalsIgnoringCase(UnsafeBufferPointer(rebasing: bytes[..<p.count]), p)
        }
    }

    public func contains(_ byte: UInt8) -> Bool { bytes.contains(byte) }
    public var string: String { String(decoding: bytes, as: UTF8.self) }
}

/// A fixed set of header names, matched against field bytes without a String: by length first, then
/// bytes ignoring ASCII case (the names are stored lower-case).
public struct HeaderNameSet: Sendable {
    private let names: [[UInt8]]

    public init(_ names: [String]) {
        self.names = names.map { Array($0.lowercasedASCII().utf8) }
    }

    public func contains(_ name: FieldName) -> Bool {
        let bytes = name.bytes
        for candidate in names where candidate.count == bytes.count {
            if candidate.withUnsafeBufferPointer({ ASCIIBytes.equalsIgnoringCase(bytes, $0) }) { return true }
        }
        return false
    }
}

/// Byte-level helpers for ASCII protocol text.
public enum ASCIIBytes {
    /// The UTF-8 bytes of `text`, contiguous (literals and native strings are, without a copy).
    @inlinable
    public static func with<R>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if let result = try text.utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = text
        return try copy.withUTF8(body)
    }

    /// ASCII case-insensitive equality: bytes equal, or the same letter in another case.
    @inlinable
    public static func equalsIgnoringCase(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count {
            let x = a[i]
            let y = b[i]
            if x != y {
                let fx = x | 0x20
                if fx != (y | 0x20) || !(fx >= 0x61 && fx <= 0x7A) { return false }
            }
        }
        return true
    }

    @inlinable
    public static func lowercased(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b }

    /// `bytes` as a String, ASCII letters lower-cased (decoded straight from the bytes when none is upper-case).
    public static func lowercasedString(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        guard bytes.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else { return String(decoding: bytes, as: UTF8.self) }
        return String(decoding: bytes.map(lowercased), as: UTF8.self)
    }

    /// Calls `body` with each comma-separated item of `value`, trimmed of spaces and tabs, empty items only
    /// when `includingEmpty`; `body` returns false to stop.
    public static func forEachListItem(
        _ value: UnsafeBufferPointer<UInt8>, includingEmpty: Bool = false,
        _ body: (UnsafeBufferPointer<UInt8>) throws -> Bool
    ) rethrows {
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count && value[end] != UInt8(ascii: ",") { end += 1 }
            var a = start
            var b = end
            while a < b && (value[a] == 0x20 || value[a] == 0x09) { a += 1 }
            while b > a && (value[b - 1] == 0x20 || value[b - 1] == 0x09) { b -= 1 }
            if a < b || includingEmpty, try !body(UnsafeBufferPointer(rebasing: value[a..<b])) { return }
            start = end + 1
        }
    }
}

extension String {
    /// ASCII case-insensitive equality; header names are ASCII tokens.
    @inlinable
    public func caseInsensitiveEquals(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        return ASCIIBytes.with(self) { a in ASCIIBytes.with(other) { b in ASCIIBytes.equalsIgnoringCase(a, b) } }
    }

    /// ASCII case-insensitive prefix test, without allocating.
    public func hasPrefixIgnoringASCIICase(_ prefix: String) -> Bool {
        var a = utf8.makeIterator()
        for p in prefix.utf8 {
            guard let x = a.next() else { return false }
            if x != p && ((x | 0x20) != (p | 0x20) || !((p | 0x20) >= 0x61 && (p | 0x20) <= 0x7A)) { return false }
        }
        return true
    }

    public func lowercasedASCII() -> String {
        String(decoding: utf8.map { ($0 >= 0x41 && $0 <= 0x5A) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}

extension StringProtocol {
    public func trimmingASCIIWhitespace() -> String {
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
