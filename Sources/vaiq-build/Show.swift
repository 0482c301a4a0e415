import ArgumentParser
import Foundation
import Manifest
import BuildCore
import Pipeline

/// `vaiq-build show NAME`: a strategy's or target's resolved settings (after `extends:`).
struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a strategy's or target's resolved settings, each marked acting or not applicable.",
        discussion: """
            NAME is a strategy or DPU target of the repository's manifests (with -C, or the current \
            directory when it has manifests/), else a built-in one. Every field is listed with its \
            value after `extends:`, whether it acts for this strategy (a field that does not act may \
            only keep its default; another value is refused when the manifests load), and the \
            file:line:column its value comes from. --full prints a strategy with every field and \
            every key of its weight, bias and activation blocks, as a strategy file a manifest loads \
            (`strategies: {NAME: {file: FILE}}`; such a file may also be the vendor's JSON strategy).
            """
    )

    @OptionGroup var repository: RepositoryOptions

    @Argument(help: "A strategy or target name.")
    var name: String

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "A strategy's every field as YAML a manifest can load (`strategies: {NAME: {file: FILE}}`); with --json, as JSON.")
    var full = false

    func run() throws {
        let manifest = try failing { try BuiltinSettings.manifest(repository: repository.repo, dataRoots: try repository.dataRoots()) }
        if full {
            guard let s = manifest.strategies[name] else {
                throw CommandFailure(message: manifest.targets[name] != nil ? "--full prints strategies; '\(name)' is a target"
                                                                            : "no strategy named '\(name)'; defined: \(manifest.strategies.keys.sorted().joined(separator: ", "))")
            }
            _ = try failing { try SettingsView.strategy(s) }
            let strategy = try failing { try QuantizeStrategy(settings: s.settings, origins: s.origins) }
            let fields = StrategyField.all.map(\.name) + (s.settings["description"] != nil ? ["description"] : [])
            // The quantizer blocks in full: every key, the shorthands' values included.
            func value(_ field: String) -> ParameterValue {
                ObjectBlock.objects.contains(field) ? .map(strategy.resolvedBlock(field)) : s.settings[field]!
            }
            if json {
                print("{\n" + fields.map { "  \(ParameterValue.string($0).canonical): \(value($0).canonical)" }.joined(separator: ",\n") + "\n}")
            } else {
                print("# strategy \(name), every field resolved (vaiq-build show \(name) --full); load it with")
                print("# strategies: {NAME: {file: THIS_FILE}}")
                for field in fields { print("\(field): \(yamlFlow(value(field)))") }
            }
            return
        }
        let kind: String, lines: [SettingLine], spec: SettingsSpec
        if let s = manifest.strategies[name] {
            (kind, spec, lines) = ("strategy", s, try failing { try SettingsView.strategy(s) })
        } else if let t = manifest.targets[name] {
            (kind, spec, lines) = ("target", t, try failing { try SettingsView.target(t) })
        } else {
            let names = (manifest.strategies.keys.sorted() + manifest.targets.keys.sorted()).joined(separator: ", ")
            throw CommandFailure(message: "no strategy or target named '\(name)'; defined: \(names)")
        }
        if json {
            try printJSON(lines)
            return
        }
        print("\(kind) \(name) (\(spec.location))")
        let width = (lines.map(\.field.count).max() ?? 0) + 2
        let valueWidth = min(28, (lines.map(\.value.count).max() ?? 0) + 2)
        for l in lines {
            var text = "  " + l.field.padding(toLength: width, withPad: " ", startingAt: 0)
                + l.value.padding(toLength: max(valueWidth, l.value.count + 1), withPad: " ", startingAt: 0) + l.status.rawValue
            if let reason = l.reason, l.status == .notApplicable { text += ": \(reason)" }
            if let origin = l.origin { text += "  (\(origin))" }
            print(text)
        }
    }
}

/// A value in YAML flow style that reads back as the same value: plain scalars where YAML reads
/// them as the same type, JSON-quoted strings otherwise.
func yamlFlow(_ value: ParameterValue) -> String {
    switch value {
    case .string(let s): return isPlainString(s) ? s : value.canonical
    case .list(let items): return "[" + items.map(yamlFlow).joined(separator: ", ") + "]"
    case .map(let m):
        return "{" + m.keys.sorted().map { "\(isPlainString($0) ? $0 : ParameterValue.string($0).canonical): \(yamlFlow(m[$0]!))" }
            .joined(separator: ", ") + "}"
    default: return value.canonical
    }
}

/// Whether `s` written bare reads back as this string: letters, digits and `_ . / -`, starting
/// with a letter or `_`, and not a word YAML reads as a boolean or null.
private func isPlainString(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, first == "_" || (first.properties.isAlphabetic && first.isASCII) else { return false }
    let keywords: Set = ["true", "false", "yes", "no", "on", "off", "null", "y", "n"]
    return !keywords.contains(s.lowercased()) && s.unicodeScalars.allSatisfy {
        $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_./-".unicodeScalars.contains($0))
    }
}
