import FuzzSupport
import TollgateCore

/// Any request path: normalizing never traps, is idempotent (what authorization saw is what a second
/// normalizer, the upstream's, would see), and leaves no dot segment for the upstream to resolve.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPathNormalizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    let path = String(decoding: input.bytes, as: UTF8.self)
    let once: String
    do {
        once = try PathNormalizer.normalize(path)
    } catch {
        return 0
    }
    let twice: String
    do {
        twice = try PathNormalizer.normalize(once)
    } catch {
        input.fail("normalized path \(once.debugDescription) is rejected when normalized again: \(error.reason)")
    }
    if twice != once { input.fail("not idempotent: \(once.debugDescription) then \(twice.debugDescription)") }
    // Checked on bytes, as the upstream reads the path: String's prefix and search work on graphemes.
    let bytes = Array(once.utf8)
    let slash = UInt8(ascii: "/")
    if input.bytes.first == slash && bytes.first != slash {
        input.fail("normalized path \(once.debugDescription) does not start with /")
    }
    let segments = bytes.split(separator: slash, omittingEmptySubsequences: false)
    if segments.contains(where: { $0.elementsEqual(".".utf8) || $0.elementsEqual("..".utf8) }) {
        input.fail("dot segment left in \(once.debugDescription)")
    }
    return 0
}
