import BuildCore
import FileIO
import Manifest
import TensorFlowIO

/// A named thing `vaiq-build TARGET` can build: some stages and where their outputs go.
public struct BuildTarget: Sendable {
    public let name: String
    public let stages: [StageID]
    public let outputs: [Materialization]
}

/// Copy stage output `output` of `stage` to `path` (repository-relative) after a build.
public struct Materialization: Sendable, Equatable {
    public let stage: StageID
    public let output: String
    public let path: String
}

/// Turns a repository's manifests into stages and targets. This is the only module that knows
/// both the build engine and the TensorFlow/quantizer passes.
///
/// Every model with a checkpoint gets `freeze/<model>`, materialized as
/// `build/<model>/frozen_graph.pb`, and is a target named after the model. Every matrix cell
/// (`<build>/<strategy>/<target>`) is a target whose chain optimize -> calibrate -> quantize
/// (`StagePlanner`) writes `build/<cell>/quantize_eval_model[_<suffix>].pb`, its stock-TensorFlow
/// twin, `quant_info.json`, `deploy_model[_<suffix>].pb` and (with an evaluation set) `metrics.json`.
public struct Pipeline: Sendable {
    public let root: String
    public let manifest: Manifest
    public let stages: [any Stage]
    public let targets: [BuildTarget]
    /// Model -> the suffix of its checkpoint-built outputs (`OutputNames.suffix`).
    public let suffixes: [String: String]

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init(root: String) throws(Failure) {
        self.root = root
        do { manifest = try ManifestLoader.load(root: root) } catch { throw Failure(description: error.description) }
        var stages: [any Stage] = []
        var targets: [BuildTarget] = []
        var suffixes: [String: String] = [:]
        for model in manifest.models.values.sorted(by: { $0.name < $1.name }) {
            guard let checkpoint = model.checkpoint else { continue }
            let location: CheckpointLocation
            let reader: CheckpointReader
            do {
                location = try CheckpointLocation.resolve(FileIO.resolve(checkpoint, relativeTo: root))
                reader = try CheckpointReader(prefix: location.prefix)
            } catch {
                throw Failure(description: "\(model.location): model '\(model.name)': \(error)")
            }
            suffixes[model.name] = OutputNames.suffix(for: location)
            let freeze = FreezeStage(model: model.name, graph: model.graph, checkpoint: location, shards: reader.shardPaths,
                                     outputNodes: model.outputNodes, root: root)
            stages.append(freeze)
            targets.append(BuildTarget(name: model.name, stages: [freeze.id],
                                       outputs: [Materialization(stage: freeze.id, output: "frozen_graph.pb",
                                                                 path: "build/\(model.name)/frozen_graph.pb")]))
        }
        let built: Set<String> = ["optimize", "calibrate", "quantize", "evaluate", "deploy"]
        var planned: [StageID: PlannedStage] = [:]
        for declaration in StagePlanner.declarations(for: manifest, suffixes: suffixes) where built.contains(declaration.kind) {
            planned[declaration.id] = PlannedStage(declaration: declaration)
        }
        stages += planned.keys.sorted().map { planned[$0]! }
        for cell in manifest.cells {
            guard let quantize = planned[StageID("quantize/\(cell.name)")] else { continue }
            let chain = [quantize] + ["deploy", "evaluate"].compactMap { planned[StageID("\($0)/\(cell.name)")] }
            targets.append(BuildTarget(name: cell.name, stages: chain.map(\.id),
                                       outputs: chain.flatMap { stage in
                                           stage.declaration.materialize.sorted { $0.key < $1.key }.map {
                                               Materialization(stage: stage.id, output: $0.key, path: $0.value)
                                           }
                                       }))
        }
        self.stages = stages
        self.targets = targets
        self.suffixes = suffixes
    }

    /// The quantize chains of the matrix cells (see `StagePlanner`).
    public var cellDeclarations: [StagePlanner.Declaration] { StagePlanner.declarations(for: manifest, suffixes: suffixes) }

    /// Targets whose names match any of `patterns` (shell globs: `*`, `?`; `all` matches all).
    public func targets(matching patterns: [String]) throws(Failure) -> [BuildTarget] {
        if patterns.isEmpty || patterns.contains("all") { return targets }
        var out: [BuildTarget] = []
        for pattern in patterns {
            let matched = targets.filter { glob(pattern, matches: $0.name) }
            guard !matched.isEmpty else {
                var message = "no target matches '\(pattern)'"
                let names = targets.map(\.name)
                if !names.isEmpty { message += "; targets: " + names.joined(separator: ", ") }
                throw Failure(description: message)
            }
            for t in matched where !out.contains(where: { $0.name == t.name }) { out.append(t) }
        }
        return out
    }
}

/// Shell-style glob: `*` any run of characters, `?` one character.
func glob(_ pattern: String, matches name: String) -> Bool {
    let p = Array(pattern), n = Array(name)
    var pi = 0, ni = 0, star = -1, mark = 0
    while ni < n.count {
        if pi < p.count, p[pi] == "?" || p[pi] == n[ni] {
            pi += 1
            ni += 1
        } else if pi < p.count, p[pi] == "*" {
            star = pi
            mark = ni
            pi += 1
        } else if star >= 0 {
            pi = star + 1
            mark += 1
            ni = mark
        } else {
            return false
        }
    }
    while pi < p.count, p[pi] == "*" { pi += 1 }
    return pi == p.count
}
