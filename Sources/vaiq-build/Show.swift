import ArgumentParser
import Foundation
import Manifest
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
            file:line:column its value comes from.
            """
    )

    @OptionGroup var repository: RepositoryOptions

    @Argument(help: "A strategy or target name.")
    var name: String

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let manifest = try failing { try BuiltinSettings.manifest(repository: repository.repo, dataRoots: try repository.dataRoots()) }
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
