import TollgateRouting
import XCTest

@testable import TollgateConfig

final class RetryPolicyTests: XCTestCase {
    private func policy(_ retryOn: [String]) -> RetryPolicy {
        RetryPolicy(HTTPRetry(attempts: 2, perTryTimeoutMilliseconds: nil, retryOn: retryOn))
    }

    func testWhichCausesEachRetryOnValueCovers() {
        let cases: [([String], Set<RetryCause>)] = [
            (["connect-failure"], [.connectFailure]),
            (["reset"], [.connectFailure, .reset, .perTryTimeout]),
            (["5xx"], [.connectFailure, .reset, .perTryTimeout]),
            (["gateway-error"], [.connectFailure, .perTryTimeout]),
            (["retriable-4xx", "503"], []),
            (HTTPRetry.istioDefault.retryOn, [.connectFailure]),
        ]
        for (retryOn, expected) in cases {
            let retried = Set(
                [RetryCause.connectFailure, .reset, .perTryTimeout].filter { policy(retryOn).retries($0) })
            XCTAssertEqual(retried, expected, "\(retryOn)")
        }
    }

    func testWhichStatusesEachRetryOnValueCovers() {
        let cases: [([String], [Int])] = [
            (["5xx"], [500, 502, 503, 504]),
            (["gateway-error"], [502, 503, 504]),
            (["retriable-4xx"], [409]),
            (["503"], [503]),
            (["0503"], []),
            (["connect-failure", "reset"], []),
        ]
        for (retryOn, expected) in cases {
            let retried = [200, 404, 409, 500, 502, 503, 504].filter { policy(retryOn).retries(status: $0) }
            XCTAssertEqual(retried, expected, "\(retryOn)")
        }
    }

    func testAttemptsAndPerTryTimeoutAreKept() {
        let compiled = RetryPolicy(HTTPRetry(attempts: 3, perTryTimeoutMilliseconds: 250, retryOn: ["5xx"]))
        XCTAssertEqual(compiled.attempts, 3)
        XCTAssertEqual(compiled.perTryTimeoutMilliseconds, 250)
    }
}
