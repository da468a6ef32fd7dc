import FuzzSupport
import HTTP1
import TollgateCore

/// Any bytes from an upstream: the response decoder never traps and reports the same responses or the same
/// error however the bytes are split. Whether each response answers a HEAD request comes from the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResponseDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    let headFlags = input.hash >> 8
    func transcript(_ pieces: [ArraySlice<UInt8>]) -> DecoderTranscript<ResponseHead> {
        DecoderTranscript(ResponseDecoder(), pieces: pieces, input: input) { decoder, index in
            decoder.requestWasHead = index < 56 && headFlags >> UInt64(index) & 1 == 1
        }
    }
    let whole = transcript([input.bytes[...]])
    let halves = transcript(input.halves)
    if halves != whole {
        input.fail("split at \(input.splitPoint): \(halves.entries) != whole: \(whole.entries)")
    }
    if let pieces = input.drip {
        let drip = transcript(pieces)
        if drip != whole { input.fail("byte by byte: \(drip.entries) != whole: \(whole.entries)") }
    }
    for case .head(let head) in whole.entries {
        let texts = [head.reason] + head.headers.flatMap { [$0.name, $0.value] }
        if let bad = texts.first(where: containsLineBreakOrNUL) {
            input.fail("decoded response carries a line break or NUL: \(bad.debugDescription)")
        }
        if !(100...999).contains(head.status) { input.fail("status \(head.status) out of range") }
    }
    return 0
}
