import Foundation
import TollgateConfig

/// Finds and reads configuration files. Runs off the event loops.
public enum ConfigFiles {
    /// Every `*.yaml` / `*.yml` under the given files and folders, sorted per folder for a stable order.
    public static func collect(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        let fm = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ConfigError([Diagnostic(.error, file: path, line: nil, path: "", "no such file or directory")])
            }
            if isDirectory.boolValue {
                let entries = try fm.contentsOfDirectory(atPath: path).sorted()
                for entry in entries
                where (entry.hasSuffix(".yaml") || entry.hasSuffix(".yml")) && !entry.hasPrefix(".") {
                    files.append((path as NSString).appendingPathComponent(entry))
                }
            } else {
                files.append(path)
            }
        }
        return files
    }

    public static func load(_ paths: [String]) throws -> ConfigModel {
        try ConfigLoader.load(try read(paths))
    }

    /// The text of every configuration file, by path.
    static func read(_ paths: [String]) throws -> [(name: String, text: String)] {
        let files = try collect(paths)
        var sources: [(name: String, text: String)] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ConfigError([Diagnostic(.error, file: file, line: nil, path: "", "cannot read file")])
            }
            sources.append((file, String(decoding: data, as: UTF8.self)))
        }
        return sources
    }
}
