import TollgateConfig
import TollgateCore

/// Evaluates one `HTTPMatchRequest` against a request (Istio → Envoy route match semantics).
enum RouteMatcher {
    static func matches(_ match: HTTPMatchRequest?, _ request: RouteRequest) -> Bool {
        guard let match else { return true }
        if let uri = match.uri, !uri.matches(request.path, ignoreCase: match.ignoreUriCase && !isRegex(uri)) {
            return false
        }
        if let scheme = match.scheme, !scheme.matches(request.scheme) { return false }
        if let method = match.method, !method.matches(request.method) { return false }
        if let authority = match.authority, !authority.matches(request.authority) { return false }
        if let port = match.port, port != request.port { return false }
        for (name, matcher) in match.headers {
            guard let value = request.headers.combined(name), matcher.matches(value) else { return false }
        }
        for (name, matcher) in match.withoutHeaders {
            if let value = request.headers.combined(name), matcher.matches(value) { return false }
            if request.headers.combined(name) == nil, matcher == .present { continue }
        }
        if !match.queryParams.isEmpty {
            let params = QueryString.parse(request.query)
            for (name, matcher) in match.queryParams {
                guard let value = params.first(where: { $0.0 == name })?.1, matcher.matches(value) else { return false }
            }
        }
        return true
    }

    private static func isRegex(_ m: StringMatch) -> Bool {
        if case .regex = m { return true }
        return false
    }
}

enum QueryString {
    static func parse(_ query: String?) -> [(String, String)] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }
}

/// Path and authority changes for `rewrite` and the `Location` of `redirect`.
enum Rewriter {
    static func rewrite(_ rewrite: HTTPRewrite?, match: HTTPMatchRequest?, _ request: RouteRequest) -> (
        path: String, authority: String
    ) {
        guard let rewrite else { return (request.path, request.authority) }
        var path = request.path
        if let uri = rewrite.uri {
            path = replaceMatched(path, match: match, with: uri)
        } else if let (regex, replacement) = rewrite.uriRegex {
            path = RegexRewrite.replace(path, regex: regex, with: replacement)
        }
        return (path, rewrite.authority ?? request.authority)
    }

    /// Envoy `prefix_rewrite`: replace the matched prefix; for exact/regex matches the whole path.
    static func replaceMatched(_ path: String, match: HTTPMatchRequest?, with replacement: String) -> String {
        if case .prefix(let prefix)? = match?.uri {
            if match?.ignoreUriCase == true, path.lowercased().hasPrefix(prefix.lowercased()) {
                return replacement + path.dropFirst(prefix.count)
            }
            if path.hasPrefix(prefix) { return replacement + path.dropFirst(prefix.count) }
        }
        if match?.uri == nil { return replacement + path.dropFirst(1) }  // an implicit prefix "/"
        return replacement
    }

    static func location(_ redirect: HTTPRedirect, match: HTTPMatchRequest?, _ request: RouteRequest) -> String {
        let scheme = redirect.scheme ?? request.scheme
        var host = redirect.authority ?? HostName.stripPort(request.authority)
        var port: Int?
        if let p = redirect.port {
            port = p
        } else if redirect.derivePortFromRequest {
            port = request.port
        } else if redirect.authority == nil, let colon = request.authority.lastIndex(of: ":"),
            !request.authority.hasSuffix("]"),
            let p = Int(request.authority[request.authority.index(after: colon)...])
        {
            port = p
        }
        if let p = port, !((scheme == "https" && p == 443) || (scheme == "http" && p == 80)) { host += ":\(p)" }
        let path = redirect.uri ?? request.path
        let query = redirect.uri?.contains("?") == true ? "" : (request.query.map { "?\($0)" } ?? "")
        return "\(scheme)://\(host)\(path)\(query)"
    }
}

enum RegexRewrite {
    /// RE2-style substitution with `\1` groups, over every match.
    static func replace(_ input: String, regex: CompiledRegex, with template: String) -> String {
        var output = ""
        var cursor = input.startIndex
        for match in regex.matches(in: input) {
            output += input[cursor..<match.range.lowerBound]
            var t = template[...]
            while let c = t.first {
                t.removeFirst()
                if c == "\\", let d = t.first, let n = d.wholeNumberValue {
                    t.removeFirst()
                    if n < match.output.count, let sub = match.output[n].substring { output += sub }
                } else {
                    output.append(c)
                }
            }
            cursor = match.range.upperBound
        }
        output += input[cursor...]
        return output
    }
}
