import TollgateCore

/// A Kubernetes `Secret` given in the config, used as a `credentialName` target.
public struct SecretResource: Sendable, Equatable {
    public var meta: ResourceMeta
    /// Key → raw bytes (`data` base64-decoded, `stringData` as UTF-8).
    public var data: [String: [UInt8]]
}

extension SecretResource {
    static func decode(_ root: YAMLValue, meta: ResourceMeta) throws -> SecretResource {
        var data: [String: [UInt8]] = [:]
        for (key, value) in try root.field("data")?.mapping() ?? [] {
            guard let bytes = Base64.decode(try value.string()) else { throw value.error("invalid base64") }
            data[key] = bytes
        }
        for (key, value) in try root.field("stringData")?.mapping() ?? [] {
            data[key] = Array(try value.string().utf8)
        }
        return SecretResource(meta: meta, data: data)
    }
}
