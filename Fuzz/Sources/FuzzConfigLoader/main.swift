import FuzzSupport
import TollgateConfig

/// Any bytes as a configuration file: the loader never traps and answers with a model or with diagnostics
/// that name the file, never with some other error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigLoader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    let text = String(decoding: input.bytes, as: UTF8.self)
    do {
        let model = try ConfigLoader.load([(name: "fuzz.yaml", text: text)])
        for notice in model.notices where notice.file != "fuzz.yaml" {
            input.fail("notice names another file: \(notice)")
        }
    } catch let error as ConfigError {
        if error.diagnostics.isEmpty { input.fail("ConfigError without diagnostics") }
        for diagnostic in error.diagnostics {
            if diagnostic.file != "fuzz.yaml" { input.fail("diagnostic names another file: \(diagnostic)") }
            if diagnostic.severity != .error {
                input.fail("a \(diagnostic.severity) made the load fail: \(diagnostic)")
            }
            _ = diagnostic.description
        }
    } catch {
        input.fail("load threw \(type(of: error)), not ConfigError: \(error)")
    }
    return 0
}
