import TollgateCore

/// `tollgate.io/contact` on a Gateway: where a person the gateway refused can ask for help.
/// The link is put into pages shown to untrusted visitors, so only a `mailto:` address or an `https:`
/// URL made of plain URL characters is accepted, checked when the configuration loads; anything else
/// (`javascript:`, `http:`, quotes, spaces) is a configuration error, never a page.
public struct ContactLink: Sendable, Equatable {
    public static let annotation = "tollgate.io/contact"

    public enum Kind: Sendable, Equatable {
        case email, web
    }

    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    public let url: String
    public let kind: Kind

    public init(validating text: String) throws(Invalid) {
        guard !text.isEmpty, text.utf8.count <= 2000 else {
            throw Invalid(reason: "expected a mailto: or https: URL of at most 2000 characters")
        }
        // RFC 3986 characters only: what a browser would otherwise re-encode or a page could be broken by.
        let excluded = Set("\"<>\\^`{|}".utf8)
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !excluded.contains($0) }) else {
            throw Invalid(
                reason:
                    "'\(text)' is not a URL: spaces, quotes, angle brackets and non-ASCII characters must be percent-encoded"
            )
        }
        let lower = text.lowercased()
        if lower.hasPrefix("mailto:") {
            let addresses = text.dropFirst("mailto:".count)
            guard !addresses.contains("?"), !addresses.contains("#") else {
                throw Invalid(
                    reason:
                        "give the address only (mailto:ops@example.com): Tollgate writes the subject and body with the request id"
                )
            }
            let valid =
                !addresses.isEmpty
                && addresses.split(separator: ",", omittingEmptySubsequences: false).allSatisfy { address in
                    let parts = address.split(separator: "@", omittingEmptySubsequences: false)
                    return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
                }
            guard valid else {
                throw Invalid(reason: "'\(text)' is not a mailto: address (expected mailto:name@example.com)")
            }
            url = text
            kind = .email
        } else if lower.hasPrefix("https://") {
            let rest = text.dropFirst("https://".count)
            let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            guard !authority.isEmpty, !authority.hasPrefix(":") else {
                throw Invalid(reason: "'\(text)' has no host name")
            }
            // `https://trusted.example@elsewhere.example/` reads as one site and opens another.
            guard !authority.contains("@") else {
                throw Invalid(reason: "'\(text)' carries a user name; give the site's URL only")
            }
            url = text
            kind = .web
        } else {
            throw Invalid(reason: "'\(text)' must be a mailto: address or an https: URL")
        }
    }

    /// The link a person follows, carrying the request id: a prefilled e-mail (RFC 6068 `subject` and
    /// `body`), or the URL with a `request_id` query parameter placed before any fragment.
    public func link(requestID: String, subject: String, body: String) -> String {
        switch kind {
        case .email:
            return "\(url)?subject=\(Self.percentEncoded(subject))&body=\(Self.percentEncoded(body))"
        case .web:
            let fragmentStart = url.firstIndex(of: "#") ?? url.endIndex
            let base = url[..<fragmentStart]
            let separator = base.contains("?") ? (base.hasSuffix("?") || base.hasSuffix("&") ? "" : "&") : "?"
            return "\(base)\(separator)request_id=\(Self.percentEncoded(requestID))\(url[fragmentStart...])"
        }
    }

    /// Everything but RFC 3986 unreserved characters, byte by byte in UTF-8 (line breaks as `%0D%0A`, RFC 6068 §5).
    static func percentEncoded(_ text: String) -> String {
        PercentEncoding.allButUnreserved(text.replacingLineBreaks())
    }
}

extension String {
    fileprivate func replacingLineBreaks() -> String {
        var out = ""
        for c in self {
            if c == "\n" || c == "\r\n" { out += "\r\n" } else { out.append(c) }
        }
        return out
    }
}
