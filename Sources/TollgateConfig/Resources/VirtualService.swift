import TollgateCore

/// `networking.istio.io` VirtualService, HTTP part: which requests go where.
public struct VirtualService: Sendable, Equatable {
    public var meta: ResourceMeta
    public var hosts: [String]
    /// Gateways as `namespace/name`.
    public var gateways: [String]
    public var http: [HTTPRoute]
}

public struct HTTPRoute: Sendable, Equatable {
    public var name: String?
    public var match: [HTTPMatchRequest]
    public var route: [HTTPRouteDestination]
    public var redirect: HTTPRedirect?
    public var directResponse: HTTPDirectResponse?
    public var rewrite: HTTPRewrite?
    public var timeoutMilliseconds: Int?
    public var retries: HTTPRetry?
    public var headers: HeaderOperations
    public var corsPolicy: CorsPolicy?
    public var line: Int?
}

public struct HTTPMatchRequest: Sendable, Equatable {
    public var name: String?
    public var uri: StringMatch?
    public var scheme: StringMatch?
    public var method: StringMatch?
    public var authority: StringMatch?
    public var headers: [(String, StringMatch)]
    public var withoutHeaders: [(String, StringMatch)]
    public var queryParams: [(String, StringMatch)]
    public var ignoreUriCase: Bool
    public var port: Int?
    /// Gateways this match is limited to, overriding the VirtualService's.
    public var gateways: [String]

    public init(uri: StringMatch? = nil) {
        self.uri = uri
        headers = []
        withoutHeaders = []
        queryParams = []
        ignoreUriCase = false
        gateways = []
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.uri == b.uri && a.scheme == b.scheme && a.method == b.method && a.authority == b.authority
            && a.headers.elementsEqual(b.headers, by: ==) && a.withoutHeaders.elementsEqual(b.withoutHeaders, by: ==)
            && a.queryParams.elementsEqual(b.queryParams, by: ==) && a.ignoreUriCase == b.ignoreUriCase
            && a.port == b.port && a.gateways == b.gateways
    }

    /// True when nothing but `uri: prefix /` (or nothing at all) is matched: Istio moves such routes last.
    public var isCatchAll: Bool {
        (uri == nil || uri == .prefix("/") || uri == .regex(".*")) && scheme == nil && method == nil && authority == nil
            && headers.isEmpty && withoutHeaders.isEmpty && queryParams.isEmpty && port == nil
    }
}

public struct Destination: Sendable, Equatable {
    public var host: String
    public var port: Int?
    public var subset: String?
}

public struct HTTPRouteDestination: Sendable, Equatable {
    public var destination: Destination
    public var weight: Int
    public var headers: HeaderOperations
}

public struct HTTPRedirect: Sendable, Equatable {
    public var uri: String?
    public var authority: String?
    public var scheme: String?
    public var port: Int?
    public var derivePortFromRequest: Bool
    public var redirectCode: Int
}

public struct HTTPRewrite: Sendable, Equatable {
    public var uri: String?
    public var authority: String?
    public var uriRegex: (match: CompiledRegex, rewrite: String)?

    public static func == (a: Self, b: Self) -> Bool {
        a.uri == b.uri && a.authority == b.authority && a.uriRegex?.match == b.uriRegex?.match
            && a.uriRegex?.rewrite == b.uriRegex?.rewrite
    }
}

public struct HTTPDirectResponse: Sendable, Equatable {
    public var status: Int
    public var body: [UInt8]?
}

public struct HTTPRetry: Sendable, Equatable {
    public var attempts: Int
    public var perTryTimeoutMilliseconds: Int?
    public var retryOn: [String]

    /// Istio's default when a route sets no `retries`: 2 retries on connection-level failures.
    public static let istioDefault = HTTPRetry(
        attempts: 2, perTryTimeoutMilliseconds: nil,
        retryOn: ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"])
}

public struct HeaderOperations: Sendable, Equatable {
    public struct Operations: Sendable, Equatable {
        public var set: [(String, String)] = []
        public var add: [(String, String)] = []
        public var remove: [String] = []
        public static func == (a: Self, b: Self) -> Bool {
            a.set.elementsEqual(b.set, by: ==) && a.add.elementsEqual(b.add, by: ==) && a.remove == b.remove
        }
        public var isEmpty: Bool { self.set.isEmpty && self.add.isEmpty && remove.isEmpty }
    }

    public var request = Operations()
    public var response = Operations()
    public init() {}
}

public struct CorsPolicy: Sendable, Equatable {
    public var allowOrigins: [StringMatch]
    public var allowMethods: [String]
    public var allowHeaders: [String]
    public var exposeHeaders: [String]
    public var maxAgeSeconds: Int?
    public var allowCredentials: Bool?
}

extension VirtualService {
    static func decode(_ spec: YAMLValue, meta: ResourceMeta) throws -> VirtualService {
        try spec.checkKeys(["hosts", "gateways", "http", "tls", "tcp", "exportTo"])
        for l4 in ["tls", "tcp"] {
            if let v = try spec.field(l4), !(try v.array().isEmpty) {
                throw v.error("\(l4) routes are not supported by Tollgate (HTTP only)")
            }
        }
        let hostsValue = try spec.requiredField("hosts")
        var hosts: [String] = []
        for h in try hostsValue.array() {
            let name = try h.string()
            try HostName.validatePattern(name, at: h)
            hosts.append(name.lowercased())
        }
        let gateways = try spec.stringList("gateways").map { qualify($0, namespace: meta.namespace) }
        let http = try (spec.field("http")?.array() ?? []).map { try HTTPRoute.decode($0, namespace: meta.namespace) }
        return VirtualService(meta: meta, hosts: hosts, gateways: gateways, http: http)
    }

    /// `name` → `namespace/name`; `mesh` stays as it is.
    static func qualify(_ gateway: String, namespace: String) -> String {
        gateway == "mesh" || gateway.contains("/") ? gateway : "\(namespace)/\(gateway)"
    }
}

extension HTTPRoute {
    static func decode(_ value: YAMLValue, namespace: String) throws -> HTTPRoute {
        try value.checkKeys([
            "name", "match", "route", "redirect", "directResponse", "rewrite", "timeout", "retries", "headers",
            "corsPolicy", "delegate", "fault", "mirror", "mirrors", "mirrorPercentage", "mirrorPercent",
        ])
        for unsupported in ["delegate", "fault", "mirror", "mirrors", "mirrorPercentage", "mirrorPercent"] {
            if let v = try value.field(unsupported) { throw v.error("not supported by Tollgate") }
        }
        let matches = try (value.field("match")?.array() ?? []).map {
            try HTTPMatchRequest.decode($0, namespace: namespace)
        }
        let route = try (value.field("route")?.array() ?? []).map(HTTPRouteDestination.decode)
        let redirect = try value.field("redirect").map(HTTPRedirect.decode)
        let direct = try value.field("directResponse").map(HTTPDirectResponse.decode)
        let actions = [!route.isEmpty, redirect != nil, direct != nil].filter { $0 }.count
        guard actions == 1 else {
            throw value.error(
                actions == 0
                    ? "a route needs one of route, redirect, directResponse"
                    : "route, redirect and directResponse are mutually exclusive")
        }
        let rewrite = try value.field("rewrite").map(HTTPRewrite.decode)
        if rewrite != nil && redirect != nil { throw value.error("rewrite cannot be combined with redirect") }
        return HTTPRoute(
            name: try value.optionalString("name"), match: matches, route: route, redirect: redirect,
            directResponse: direct, rewrite: rewrite,
            timeoutMilliseconds: try value.field("timeout").map(DurationParser.milliseconds),
            retries: try value.field("retries").map(HTTPRetry.decode),
            headers: try value.field("headers").map(HeaderOperations.decode) ?? HeaderOperations(),
            corsPolicy: try value.field("corsPolicy").map(CorsPolicy.decode), line: value.line)
    }
}

extension HTTPMatchRequest {
    static func decode(_ value: YAMLValue, namespace: String) throws -> HTTPMatchRequest {
        try value.checkKeys([
            "name", "uri", "scheme", "method", "authority", "headers", "withoutHeaders", "queryParams",
            "ignoreUriCase", "port", "gateways", "sourceLabels", "sourceNamespace", "statPrefix",
        ])
        for sidecarOnly in ["sourceLabels", "sourceNamespace"] {
            if let v = try value.field(sidecarOnly) {
                throw v.error("only meaningful for sidecars; not supported at a gateway")
            }
        }
        func pairs(_ key: String, allowEmpty: Bool) throws -> [(String, StringMatch)] {
            try (value.field(key)?.mapping() ?? []).map {
                ($0.key.lowercased(), try StringMatch.decode($0.value, allowEmpty: allowEmpty))
            }
        }
        var m = HTTPMatchRequest()
        m.name = try value.optionalString("name")
        m.uri = try value.field("uri").map { try StringMatch.decode($0) }
        m.scheme = try value.field("scheme").map { try StringMatch.decode($0) }
        m.method = try value.field("method").map { try StringMatch.decode($0) }
        m.authority = try value.field("authority").map { try StringMatch.decode($0) }
        m.headers = try pairs("headers", allowEmpty: true)
        m.withoutHeaders = try pairs("withoutHeaders", allowEmpty: true)
        m.queryParams = try (value.field("queryParams")?.mapping() ?? []).map {
            ($0.key, try StringMatch.decode($0.value, allowEmpty: true))
        }
        m.ignoreUriCase = try value.optionalBool("ignoreUriCase") ?? false
        m.port = try value.optionalInt("port")
        m.gateways = try value.stringList("gateways").map { VirtualService.qualify($0, namespace: namespace) }
        return m
    }
}

extension HTTPRouteDestination {
    static func decode(_ value: YAMLValue) throws -> HTTPRouteDestination {
        try value.checkKeys(["destination", "weight", "headers"])
        let d = try value.requiredField("destination")
        try d.checkKeys(["host", "port", "subset"])
        var port: Int?
        if let p = try d.field("port") {
            try p.checkKeys(["number"])
            port = try p.requiredField("number").int()
        }
        if let subset = try d.field("subset") {
            throw subset.error("subsets need a DestinationRule, which Tollgate does not support")
        }
        let weight = try value.optionalInt("weight") ?? 0
        guard weight >= 0 else { throw try value.requiredField("weight").error("weight must not be negative") }
        return HTTPRouteDestination(
            destination: Destination(host: try d.requiredField("host").string().lowercased(), port: port, subset: nil),
            weight: weight, headers: try value.field("headers").map(HeaderOperations.decode) ?? HeaderOperations())
    }
}

extension HTTPRedirect {
    static func decode(_ value: YAMLValue) throws -> HTTPRedirect {
        try value.checkKeys(["uri", "authority", "scheme", "port", "derivePort", "redirectCode"])
        let code = try value.optionalInt("redirectCode") ?? 301
        guard [301, 302, 303, 307, 308].contains(code) else {
            throw try value.requiredField("redirectCode").error("redirectCode must be 301, 302, 303, 307 or 308")
        }
        var derive = false
        if let d = try value.field("derivePort") {
            derive = try d.enumeration(["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"]) == "FROM_REQUEST_PORT"
        }
        return HTTPRedirect(
            uri: try value.optionalString("uri"), authority: try value.optionalString("authority"),
            scheme: try value.optionalString("scheme"), port: try value.optionalInt("port"),
            derivePortFromRequest: derive, redirectCode: code)
    }
}

extension HTTPRewrite {
    static func decode(_ value: YAMLValue) throws -> HTTPRewrite {
        try value.checkKeys(["uri", "authority", "uriRegexRewrite"])
        var regex: (CompiledRegex, String)?
        if let r = try value.field("uriRegexRewrite") {
            try r.checkKeys(["match", "rewrite"])
            let pattern = try r.requiredField("match").string()
            guard let compiled = CompiledRegex(pattern) else {
                throw try r.requiredField("match").error("invalid regular expression")
            }
            regex = (compiled, try r.requiredField("rewrite").string())
        }
        let rewrite = HTTPRewrite(
            uri: try value.optionalString("uri"), authority: try value.optionalString("authority"), uriRegex: regex)
        if rewrite.uri != nil && regex != nil { throw value.error("uri and uriRegexRewrite are mutually exclusive") }
        return rewrite
    }
}

extension HTTPDirectResponse {
    static func decode(_ value: YAMLValue) throws -> HTTPDirectResponse {
        try value.checkKeys(["status", "body"])
        let status = try value.requiredField("status").int()
        guard (200...599).contains(status) else {
            throw try value.requiredField("status").error("status must be 200-599")
        }
        var body: [UInt8]?
        if let b = try value.field("body") {
            try b.checkKeys(["string", "bytes"])
            if let s = try b.optionalString("string") { body = Array(s.utf8) }
            if let encoded = try b.field("bytes") {
                guard let decoded = Base64.decode(try encoded.string()) else { throw encoded.error("invalid base64") }
                body = decoded
            }
        }
        return HTTPDirectResponse(status: status, body: body)
    }
}

extension HTTPRetry {
    static let supportedRetryOn: Set<String> = [
        "5xx", "gateway-error", "reset", "connect-failure", "retriable-4xx", "refused-stream", "retriable-status-codes",
        "cancelled", "deadline-exceeded", "resource-exhausted", "unavailable", "internal", "reset-before-request",
    ]

    static func decode(_ value: YAMLValue) throws -> HTTPRetry {
        try value.checkKeys([
            "attempts", "perTryTimeout", "retryOn", "retryRemoteLocalities", "retryIgnorePreviousHosts", "backoff",
        ])
        let attempts = try value.optionalInt("attempts") ?? 0
        guard attempts >= 0 else { throw try value.requiredField("attempts").error("attempts must not be negative") }
        var retryOn: [String] = []
        if let r = try value.field("retryOn") {
            for item in try r.string().split(separator: ",") {
                let policy = item.trimmingASCIIWhitespace()
                guard supportedRetryOn.contains(policy) || Int(policy) != nil else {
                    throw r.error("unsupported retryOn policy '\(policy)'")
                }
                retryOn.append(policy)
            }
        } else {
            retryOn = istioDefault.retryOn
        }
        return HTTPRetry(
            attempts: attempts,
            perTryTimeoutMilliseconds: try value.field("perTryTimeout").map(DurationParser.milliseconds),
            retryOn: retryOn)
    }
}

extension HeaderOperations {
    static func decode(_ value: YAMLValue) throws -> HeaderOperations {
        try value.checkKeys(["request", "response"])
        func ops(_ v: YAMLValue?) throws -> Operations {
            guard let v else { return Operations() }
            try v.checkKeys(["set", "add", "remove"])
            let set = try (v.field("set")?.mapping() ?? []).map { ($0.key.lowercased(), try $0.value.string()) }
            let add = try (v.field("add")?.mapping() ?? []).map { ($0.key.lowercased(), try $0.value.string()) }
            return Operations(set: set, add: add, remove: try v.stringList("remove").map { $0.lowercased() })
        }
        var h = HeaderOperations()
        h.request = try ops(value.field("request"))
        h.response = try ops(value.field("response"))
        return h
    }
}

extension CorsPolicy {
    static func decode(_ value: YAMLValue) throws -> CorsPolicy {
        try value.checkKeys([
            "allowOrigins", "allowOrigin", "allowMethods", "allowHeaders", "exposeHeaders", "maxAge",
            "allowCredentials", "unmatchedPreflights",
        ])
        var origins = try (value.field("allowOrigins")?.array() ?? []).map { try StringMatch.decode($0) }
        origins += try value.stringList("allowOrigin").map { $0 == "*" ? StringMatch.regex(".*") : .exact($0) }
        return CorsPolicy(
            allowOrigins: origins, allowMethods: try value.stringList("allowMethods"),
            allowHeaders: try value.stringList("allowHeaders"), exposeHeaders: try value.stringList("exposeHeaders"),
            maxAgeSeconds: try value.field("maxAge").map { try DurationParser.milliseconds($0) / 1000 },
            allowCredentials: try value.optionalBool("allowCredentials"))
    }
}
