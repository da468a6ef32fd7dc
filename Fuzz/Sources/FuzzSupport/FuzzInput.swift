/// The choices a fuzz target derives from its input (split points, flags), so that each input replays
/// exactly: libFuzzer's reproducer files then carry everything needed to see the failure again.
public struct FuzzInput {
    public let bytes: [UInt8]
    /// FNV-1a over the input: a cheap, stable source of choices that mutations keep changing.
    public let hash: UInt64

    public init(_ data: UnsafePointer<UInt8>?, _ count: Int) {
        bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        hash = h
    }

    /// A cut point in 0...bytes.count.
    public var splitPoint: Int { Int(hash % UInt64(bytes.count + 1)) }

    /// The input cut in two at `splitPoint`.
    public var halves: [ArraySlice<UInt8>] { [bytes[..<splitPoint], bytes[splitPoint...]] }

    /// The input one byte at a time, when it is short enough: the decoders rescan a partial chunk-size or
    /// trailer line on every read, so a 4 KiB line fed byte by byte takes seconds under the sanitizers.
    public var drip: [ArraySlice<UInt8>]? { bytes.count <= 1024 ? bytes.indices.map { bytes[$0...$0] } : nil }

    /// Stops the run with a message libFuzzer records as a crash, input attached.
    public func fail(_ message: String) -> Never {
        fatalError("\(message)\ninput: \(String(decoding: bytes, as: UTF8.self).debugDescription)")
    }
}
