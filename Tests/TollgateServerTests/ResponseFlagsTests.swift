import XCTest

@testable import TollgateServer

final class ResponseFlagsTests: XCTestCase {
    func testNoFlagsIsADash() {
        XCTAssertEqual(ResponseFlags().description, "-")
    }

    func testFlagsAreListedInEnvoysOrderWhateverTheOrderTheyWereSet() {
        var flags: ResponseFlags = .upstreamRetryLimitExceeded
        flags.insert(.upstreamConnectionFailure)
        XCTAssertEqual(flags.description, "UF,URX")
        XCTAssertEqual(ResponseFlags([.upstreamProtocolError, .upstreamRetryLimitExceeded]).description, "URX,UPE")
    }

    func testEachFlagHasEnvoysCode() {
        let codes: [(ResponseFlags, String)] = [
            (.noHealthyUpstream, "UH"), (.upstreamRequestTimeout, "UT"), (.upstreamConnectionFailure, "UF"),
            (.upstreamConnectionTermination, "UC"), (.noRouteFound, "NR"),
            (.downstreamConnectionTermination, "DC"), (.upstreamRetryLimitExceeded, "URX"),
            (.streamIdleTimeout, "SI"), (.downstreamProtocolError, "DPE"), (.upstreamProtocolError, "UPE"),
            (.noClusterFound, "NC"),
        ]
        for (flag, code) in codes { XCTAssertEqual(flag.description, code) }
    }
}
