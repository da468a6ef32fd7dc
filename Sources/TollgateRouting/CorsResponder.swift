import TollgateConfig
import TollgateCore

/// Envoy's CORS filter for a route's `corsPolicy`: answers matching preflights itself and adds the
/// `Access-Control-*` headers to actual responses. Non-matching origins pass through untouched
/// (Istio's default `unmatchedPreflights: FORWARD`).
public enum CorsResponder {
    public enum Outcome: Equatable {
        /// Not a CORS request, or an origin the policy does not allow.
        case none
        /// A preflight to answer with these headers (status 200, no body).
        case preflight([(String, String)])
        /// An actual request: add these headers to the response.
        case actual([(String, String)])

        public static func == (a: Outcome, b: Outcome) -> Bool {
            switch (a, b) {
            case (.none, .none): true
            case (.preflight(let x), .preflight(let y)), (.actual(let x), .actual(let y)): x.elementsEqual(y, by: ==)
            default: false
            }
        }
    }

    public static func evaluate(_ policy: CorsPolicy?, method: String, headers: HTTPHeaders) -> Outcome {
        guard let policy, let origin = headers["origin"], policy.allowOrigins.contains(where: { $0.matches(origin) })
        else { return .none }
        var out: [(String, String)] = [("access-control-allow-origin", origin)]
        if policy.allowCredentials == true { out.append(("access-control-allow-credentials", "true")) }
        if method == "OPTIONS", headers.contains("access-control-request-method") {
            if !policy.allowMethods.isEmpty {
                out.append(("access-control-allow-methods", policy.allowMethods.joined(separator: ",")))
            }
            if !policy.allowHeaders.isEmpty {
                out.append(("access-control-allow-headers", policy.allowHeaders.joined(separator: ",")))
            }
            if let maxAge = policy.maxAgeSeconds { out.append(("access-control-max-age", String(maxAge))) }
            return .preflight(out)
        }
        if !policy.exposeHeaders.isEmpty {
            out.append(("access-control-expose-headers", policy.exposeHeaders.joined(separator: ",")))
        }
        return .actual(out)
    }
}
