import FuzzSupport
import TollgateCore
import TollgateTLS

/// Any bytes as a DER client certificate: reading its summary and the identity a verified connection would
/// get never traps, and no name with a control character becomes a principal, a policy name or a line
/// break in `x-forwarded-client-cert`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCertificate(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    guard let summary = CertificateSummary(der: input.bytes) else {
        if PeerIdentity(verifiedCertificateDER: input.bytes) != nil {
            input.fail("identity from bytes with no summary")
        }
        return 0
    }
    guard let identity = PeerIdentity(verifiedCertificateDER: input.bytes) else {
        input.fail("summary but no identity from the same bytes")
    }
    if identity.subjectAltNames != summary.subjectAltNames { input.fail("identity and summary disagree on SANs") }
    // Rendered as the verify callback renders SANs to compare them with Istio's `subjectAltNames` pins:
    // an IP SAN of any length reaches this from a certificate the CA signed.
    let ipTexts = summary.subjectAltNames.compactMap { name -> ([UInt8], String)? in
        if case .ipAddress(let bytes) = name { (bytes, IPAddress(bytes: bytes).description) } else { nil }
    }
    // `covers` walks the whole list, so only the first few names of a list of hundreds are checked. (An
    // IPv4-mapped IPv6 SAN reads back as its IPv4 address, and so is left out.)
    for (bytes, text) in ipTexts.prefix(16) where IPAddress(text)?.bytes == bytes && !summary.covers(host: text) {
        input.fail("IP SAN \(bytes) does not cover its own text \(text)")
    }
    for name in identity.dnsNames.prefix(16) where PeerIdentity.isIdentityName(name) && !name.hasPrefix("*") {
        if !summary.covers(host: name) { input.fail("DNS SAN \(name.debugDescription) does not cover itself") }
    }
    if let principal = identity.principal, !PeerIdentity.isIdentityName(principal) {
        input.fail("principal with a control character or space: \(principal.debugDescription)")
    }
    _ = identity.namespace
    for name in identity.matchableNames where containsLineBreakOrNUL(name) {
        input.fail("policy-matchable name with a line break or NUL: \(name.debugDescription)")
    }
    let element = ForwardedHeaders.clientCertElement(identity, by: ["spiffe://gateway"])
    if containsLineBreakOrNUL(element) {
        input.fail("x-forwarded-client-cert with a line break or NUL: \(element.debugDescription)")
    }
    return 0
}
