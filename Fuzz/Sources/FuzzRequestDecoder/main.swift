import FuzzSupport
import HTTP1
import TollgateCore

/// Any bytes from a client: the request decoder never traps, reports the same requests or the same error
/// whether the bytes arrive at once, in two pieces or one at a time, and never hands on a head with a line
/// break or NUL in it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    let whole = DecoderTranscript<RequestHead>(RequestDecoder(), pieces: [input.bytes[...]], input: input)
    let halves = DecoderTranscript<RequestHead>(RequestDecoder(), pieces: input.halves, input: input)
    if halves != whole {
        input.fail("split at \(input.splitPoint): \(halves.entries) != whole: \(whole.entries)")
    }
    if let pieces = input.drip {
        let drip = DecoderTranscript<RequestHead>(RequestDecoder(), pieces: pieces, input: input)
        if drip != whole { input.fail("byte by byte: \(drip.entries) != whole: \(whole.entries)") }
    }
    for case .head(let head) in whole.entries {
        let texts = [head.method, head.target] + head.headers.flatMap { [$0.name, $0.value] }
        if let bad = texts.first(where: containsLineBreakOrNUL) {
            input.fail("decoded request carries a line break or NUL: \(bad.debugDescription)")
        }
        if head.method.isEmpty || head.target.isEmpty { input.fail("decoded request without method or target") }
    }
    return 0
}
