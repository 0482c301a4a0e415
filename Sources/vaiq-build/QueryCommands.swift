import ArgumentParser
import BuildCore
import FileIO
import Foundation
import Pipeline

/// Runs a dry build of `targets` (nothing runs, nothing is written) and returns the report.
/// With `shared`, a stage that would run is looked up in the remote cache too (HEAD only).
private func dryRun(_ repository: RepositoryOptions, _ patterns: [String],
                    shared: SharedCacheOptions? = nil) throws -> (Pipeline, BuildPlan, [BuildTarget], BuildReport) {
    let pipeline = try repository.pipeline()
    let selected = try failing { try pipeline.targets(matching: patterns) }
    // The engine alone, without the cache's lock: a dry run writes nothing, so it need not wait for a build.
    let session = try failing { try BuildSession(root: repository.repo, stages: pipeline.stages, cache: try repository.cache()) }
    let tier = try shared?.tier(pipeline.manifest.settings, jobs: 1) { Console.err("warning: \($0)\n") }
    let report = session.engine.build(selected.flatMap(\.stages), options: BuildOptions(jobs: 1, dryRun: true, shared: tier))
    try? session.statCache.save()
    return (pipeline, session.plan, selected, report)
}

struct Why: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Say why a target would rebuild: one line per reason and stage (or that it is up to date).")

    @OptionGroup var repository: RepositoryOptions

    @OptionGroup(title: "Remote cache") var shared: SharedCacheOptions

    @Argument(help: "A target or glob.")
    var target: String

    func run() throws {
        let (pipeline, plan, selected, report) = try dryRun(repository, [target], shared: shared)
        // Files under a data root are keyed by their content alone: where the root is on this
        // machine changes nothing that is built, and is said here.
        for root in pipeline.manifest.usedDataRoots {
            print("data root @\(root.name) = \(root.folder) (its files are hashed by content, never by path)")
        }
        let log = BuildLog.load(repository.repo)
        for t in selected {
            let stages = plan.order.filter(plan.closure(of: t.stages).contains)
            print("\(t.name):")
            for id in stages {
                switch report.outcomes[id]! {
                case .cached:
                    print("  \(id): up to date" + (log.stages[id.rawValue]?.remote == true ? " (its outputs came from the remote cache)" : ""))
                case .fetched: print("  \(id): in the remote cache")
                case .wouldRun(let reasons): for r in reasons { print("  \(id): \(r)") }
                case .failed(let m): print("  \(id): cannot tell: \(m)")
                case .skipped(let r): print("  \(id): not checked: \(r)")
                case .ran: break
                }
            }
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show which targets are up to date (runs nothing).")

    @OptionGroup var repository: RepositoryOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let (_, plan, selected, report) = try dryRun(repository, [])
        var rows: [[String]] = []
        var entries: [[String: String]] = []
        for t in selected {
            let stages = plan.closure(of: t.stages)
            let stale = stages.filter { report.outcomes[$0] != .cached }.count
            let state = stale == 0 ? "up to date" : "\(stale) of \(stages.count) stages to run"
            rows.append([t.name, state])
            entries.append(["target": t.name, "state": stale == 0 ? "up-to-date" : "stale", "stale_stages": "\(stale)",
                            "stages": "\(stages.count)"])
        }
        if json { try printJSON(entries) } else { printTable(rows, header: ["target", "state"]) }
        if !report.succeeded && report.outcomes.values.contains(where: { if case .failed = $0 { true } else { false } }) {
            for case let (id, .failed(message)) in report.outcomes.sorted(by: { $0.key < $1.key }) {
                Console.err("error: \(id): \(message)\n")
            }
            throw ExitCode(1)
        }
    }
}

struct Targets: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the buildable targets and the manifest's matrix cells.")

    @OptionGroup var repository: RepositoryOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let pipeline = try repository.pipeline()
        if json {
            struct Entry: Encodable { let name: String; let stages: [String]; let outputs: [String] }
            struct Cell: Encodable { let name: String; let model: String; let strategy: String; let target: String }
            struct Listing: Encodable { let targets: [Entry]; let cells: [Cell] }
            try printJSON(Listing(
                targets: pipeline.targets.map { Entry(name: $0.name, stages: $0.stages.map(\.rawValue), outputs: $0.outputs.map(\.path)) },
                cells: pipeline.manifest.cells.map { Cell(name: $0.name, model: $0.model, strategy: $0.strategyName, target: $0.target) }))
            return
        }
        print("targets:")
        printTable(pipeline.targets.map { [$0.name, $0.outputs.map(\.path).joined(separator: ", ")] }, header: ["name", "outputs"])
        print("\nmatrix cells:")
        printTable(pipeline.manifest.cells.map { [$0.name, $0.model, $0.strategyName, $0.target] },
                   header: ["name", "model", "strategy", "target"])
    }
}

struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the stage graph (Graphviz DOT with --dot).")

    @OptionGroup var repository: RepositoryOptions

    @Flag(help: "Graphviz DOT output (the default).")
    var dot = false

    func run() throws {
        let pipeline = try repository.pipeline()
        let plan = try failing { try BuildPlan(pipeline.stages) }
        var lines = ["digraph vaiq_build {", "  rankdir=LR;", "  node [fontname=\"Helvetica\", fontsize=10];"]
        var files = Set<String>()
        for id in plan.order {
            let stage = plan.stages[id]!
            lines.append("  \"\(id)\" [shape=box, style=rounded, label=\"\(stage.kind)\\n\(id)\"];")
            for (name, input) in stage.inputs.sorted(by: { $0.key < $1.key }) {
                switch input {
                case .file(let path):
                    if files.insert(path).inserted { lines.append("  \"file:\(path)\" [shape=note, label=\"\(path)\"];") }
                    lines.append("  \"file:\(path)\" -> \"\(id)\" [label=\"\(name)\"];")
                case .output(let producer, let output):
                    lines.append("  \"\(producer)\" -> \"\(id)\" [label=\"\(output)\"];")
                }
            }
        }
        lines.append("}")
        print(lines.joined(separator: "\n"))
    }
}

struct Clean: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove the build outputs (build/); with --cache also the cache.")

    @OptionGroup var repository: RepositoryOptions

    @Flag(help: "Also remove the cache directory.")
    var cache = false

    func run() throws {
        var removed: [String] = []
        let build = FileIO.resolve("build", relativeTo: repository.repo)
        if FileIO.exists(build) {
            try FileManager.default.removeItem(atPath: build)
            removed.append(build)
        }
        if cache, FileIO.exists(repository.cachePath) {
            // Only a directory that says it is a cache: --cache-dir or VAIQ_CACHE_DIR may name any folder.
            let marker = "\(repository.cachePath)/FORMAT"
            guard let text = try? FileIO.read(marker),
                  String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == BuildCache.format else {
                throw CommandFailure(message: "\(repository.cachePath) is not a vaiq-build cache (no FORMAT file reading '\(BuildCache.format)'); not removing it")
            }
            let c = try repository.cache()
            let lock = try failing { try BuildLock(cache: c) }
            try withExtendedLifetime(lock) { try FileManager.default.removeItem(atPath: repository.cachePath) }
            removed.append(repository.cachePath)
        }
        print(removed.isEmpty ? "nothing to clean" : "removed " + removed.joined(separator: ", "))
    }
}
