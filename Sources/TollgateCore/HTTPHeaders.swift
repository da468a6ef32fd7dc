/// An ordered list of header fields. Names keep the case they arrived in; lookups ignore case
/// (RFC 9110 §5.1). Order matters for forwarding, so this is a list, not a dictionary.
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    public private(set) var fields: [(name: String, value: String)]

    public init(_ fields: [(String, String)] = []) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    public var count: Int { fields.count }

    /// The first value of `name`, or nil.
    public subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    /// All values of `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }

    /// All values of `name` joined with `,`, as intermediaries may combine them (RFC 9110 §5.3).
    public func combined(_ name: String) -> String? {
        let all = values(name)
        return all.isEmpty ? nil : all.joined(separator: ",")
    }

    public func contains(_ name: String) -> Bool {
        fields.contains { $0.name.caseInsensitiveEquals(name) }
    }

    public mutating func add(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    /// Replaces every value of `name` with one value, keeping the position of the first.
    public mutating func set(_ name: String, _ value: String) {
        if let index = fields.firstIndex(where: { $0.name.caseInsensitiveEquals(name) }) {
            fields[index].value = value
            var seen = false
            fields.removeAll { field in
                guard field.name.caseInsensitiveEquals(name) else { return false }
                defer { seen = true }
                return seen
            }
        } else {
            add(name, value)
        }
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { $0.name.caseInsensitiveEquals(name) }
    }

    public mutating func removeAll(where predicate: (String) -> Bool) {
        fields.removeAll { predicate($0.name) }
    }

    /// Whether a comma-separated item of a `name` field equals `token` (ASCII case-insensitive, trimmed):
    /// `tokens(name).contains(token)` for a lower-case `token`, without building the list.
    public func containsToken(_ name: String, _ token: String) -> Bool {
        for field in fields where field.name.caseInsensitiveEquals(name) {
            for item in field.value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
                var trimmed = item[...]
                while let b = trimmed.first, b == 0x20 || b == 0x09 { trimmed.removeFirst() }
                while let b = trimmed.last, b == 0x20 || b == 0x09 { trimmed.removeLast() }
                let lowered = { (b: UInt8) -> UInt8 in (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b }
                if trimmed.count == token.utf8.count && zip(trimmed, token.utf8).allSatisfy({ lowered($0) == $1 }) {
                    return true
                }
            }
        }
        return false
    }

    /// Comma-separated tokens of every `name` field, lower-cased (for `Connection`, `Transfer-Encoding`).
    public func tokens(_ name: String) -> [String] {
        values(name).flatMap { $0.split(separator: ",") }
            .map { $0.trimmingASCIIWhitespace().lowercasedASCII() }
            .filter { !$0.isEmpty }
    }
}

extension String {
    /// ASCII case-insensitive equality; header names are ASCII tokens.
    @inlinable
    public func caseInsensitiveEquals(_ other: String) -> Bool {
        let a = self.utf8
        let b = other.utf8
        guard a.count == b.count else { return false }
        // Native strings are contiguous: compare their bytes directly (a zip over two UTF8Views showed in profiles).
        let direct = a.withContiguousStorageIfAvailable { x in
            b.withContiguousStorageIfAvailable { y in
                for i in 0..<x.count where x[i] != y[i] {
                    if (x[i] | 0x20) != (y[i] | 0x20) || !((x[i] | 0x20) >= 0x61 && (x[i] | 0x20) <= 0x7A) {
                        return false
                    }
                }
                return true
            }
        }
        if let direct, let result = direct { return result }
        for (x, y) in zip(a, b) where x != y {
            if (x | 0x20) != (y | 0x20) || !((x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A) { return false }
        }
        return true
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
