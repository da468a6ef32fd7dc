/// Tollgate's default TLS 1.2 policy is ECDHE key exchange, an authenticated server and AEAD ciphers of
/// at least 128 bits (`TLSServerSettings.defaultCipherSuites`), at OpenSSL's default security level.
/// This says how a suite falls short of it, for `validate`'s warnings. Pure: no OpenSSL here.
public enum CipherSuitePolicy {
    /// Empty when the suite meets the default policy.
    public static func shortcomings(_ suite: CipherSuiteDescription) -> [String] {
        var out: [String] = []
        switch suite.keyExchange {
        case .ecdhe: break
        case .rsa: out.append("static RSA key exchange (no forward secrecy)")
        case .dhe: out.append("finite-field DHE key exchange (slow, and only as strong as its group)")
        case .psk: out.append("pre-shared-key key exchange")
        case .other: out.append("an unusual key exchange")
        }
        if suite.anonymous { out.append("no server authentication (anonymous)") }
        if !suite.encrypts {
            out.append("no encryption")
        } else if !suite.isAEAD {
            out.append("CBC with a separate MAC (not AEAD)")
        }
        if suite.encrypts && suite.bits < 128 { out.append("a \(suite.bits)-bit cipher") }
        return out
    }

    /// One finding per `cipherSuites` entry that enables something below the default policy. Each entry is
    /// judged by the suites it contributes to the final list: `expand` gives what OpenSSL makes of a string.
    /// - Returns: (entry index, message) pairs.
    public static func findings(
        _ entries: [String], defaultSecurityLevel: Int,
        expand: (String) -> CipherSuiteCatalog.Expansion?
    ) -> [(index: Int, message: String)] {
        guard !entries.isEmpty, let whole = expand(entries.joined(separator: ":")) else { return [] }
        let enabled = Set(whole.suites.map(\.name))
        var out: [(Int, String)] = []
        for (index, entry) in entries.enumerated() {
            for item in entry.split(whereSeparator: { $0 == ":" || $0 == "," || $0 == " " }).map(String.init) {
                if let message = finding(
                    item, enabled: enabled, defaultSecurityLevel: defaultSecurityLevel, expand: expand)
                {
                    out.append((index, message))
                }
            }
        }
        return out
    }

    private static func finding(
        _ item: String, enabled: Set<String>, defaultSecurityLevel: Int,
        expand: (String) -> CipherSuiteCatalog.Expansion?
    ) -> String? {
        if item.hasPrefix("@SECLEVEL=") {
            guard let level = Int(item.dropFirst("@SECLEVEL=".count)), level < defaultSecurityLevel else { return nil }
            return
                "\(item) lowers OpenSSL's security level from \(defaultSecurityLevel) to \(level) (smaller keys and weaker suites are accepted)"
        }
        // Removals and reorderings (`!aNULL`, `-CBC`, `+AES`, `@STRENGTH`) add nothing.
        guard let first = item.first, !"!-+@".contains(first) else { return nil }
        guard let own = expand(item) else { return "\(item) names no cipher suite OpenSSL knows" }
        let weak = own.suites.filter { enabled.contains($0.name) }.compactMap { suite -> (String, [String])? in
            let shortcomings = shortcomings(suite)
            return shortcomings.isEmpty ? nil : (suite.name, shortcomings)
        }
        if weak.isEmpty { return nil }
        if weak.count == 1, weak[0].0 == item {
            return "\(item) is below Tollgate's default policy: \(weak[0].1.joined(separator: "; "))"
        }
        // Group an alias's suites by what is wrong with them.
        var byShortcoming: [(String, [String])] = []
        for (name, shortcomings) in weak {
            for s in shortcomings {
                if let i = byShortcoming.firstIndex(where: { $0.0 == s }) {
                    byShortcoming[i].1.append(name)
                } else {
                    byShortcoming.append((s, [name]))
                }
            }
        }
        // An alias such as HIGH enables dozens: name a few per shortcoming, so the line stays readable.
        return "\(item) enables \(weak.count) suite\(weak.count == 1 ? "" : "s") below Tollgate's default policy: "
            + byShortcoming.map { shortcoming, names in
                "\(shortcoming) (\(names.prefix(3).joined(separator: ", "))\(names.count > 3 ? " and \(names.count - 3) more" : ""))"
            }.joined(separator: "; ")
    }
}
