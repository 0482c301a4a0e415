import BuildCore
import FileIO
import Foundation
import Manifest
import TensorFlowIO

/// A named thing `vaiq-build TARGET` can build: some stages and where their outputs go.
public struct BuildTarget: Sendable {
    public let name: String
    public let stages: [StageID]
    public let outputs: [Materialization]
}

/// Copy stage output `output` of `stage` to `path` (repository-relative) after a build. An
/// `output` ending in `/` names a directory: every output under it, placed under `path/`.
public struct Materialization: Sendable, Equatable {
    public let stage: StageID
    public let output: String
    public let path: String

    public var isDirectory: Bool { output.hasSuffix("/") }

    /// (output name, path) of each file this placement writes, given the stage's outputs.
    public func files(among outputs: [String]) -> [(output: String, path: String)] {
        guard isDirectory else { return outputs.contains(output) ? [(output, path)] : [] }
        return outputs.filter { $0.hasPrefix(output) }.sorted().map { ($0, path + "/" + $0.dropFirst(output.count)) }
    }
}

/// Turns a repository's manifests into stages and targets. This is the only module that knows
/// both the build engine and the TensorFlow/quantizer passes.
///
/// Every model with a checkpoint gets `freeze/<model>`, materialized as
/// `build/<model>/frozen_graph.pb`, and is a target named after the model. Every matrix cell
/// (`<build>/<strategy>/<target>`) is a `QuantizeJob` and a target whose chain
///
///     freeze/<model> -> optimize/<model>/<opt> -> calibrate/<model>/<calibration>/<opt>
///                                              -> quantize/<cell> -> deploy/<cell>, evaluate/<cell>
///
/// writes its outputs under `build/<cell>/`. `<opt>` is a short digest of the optimize settings,
/// so strategies that optimize alike share one optimized graph and one float calibration.
/// Strategies and targets become typed values here, at load: a key that would not act is refused
/// with the place it was written, before anything runs.
public struct Pipeline: Sendable {
    public let root: String
    public let manifest: Manifest
    public let stages: [any Stage]
    public let targets: [BuildTarget]
    /// Cell name -> its job.
    public let jobs: [String: QuantizeJob]
    /// Model -> the suffix of its checkpoint-built outputs (`OutputNames.suffix`).
    public let suffixes: [String: String]

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public init(root: String, dataRoots: DataRoots = DataRoots()) throws(Failure) {
        self.root = root
        let manifest: Manifest
        do { manifest = try ManifestLoader.load(root: root, dataRoots: dataRoots) } catch { throw Failure(description: error.description) }
        self.manifest = manifest
        var byID: [StageID: any Stage] = [:]
        var targets: [BuildTarget] = []
        var suffixes: [String: String] = [:]
        var models: [String: QuantizeJob.Model] = [:]
        for model in manifest.models.values.sorted(by: { $0.name < $1.name }) {
            var graph = StageInput.file(model.graph)
            var freezeID: StageID?
            var inputNodes = model.inputNodes, outputNodes = model.outputNodes, inputShapes = model.inputShapes
            if let directory = model.savedModel {
                // The signature names the inputs and outputs (and shapes) the manifest leaves out.
                let full = FileIO.resolve(directory, relativeTo: root)
                let freeze: SavedModelStage
                do {
                    let signature = try SavedModelReader.signature(directory: full, name: model.signature)
                    if inputNodes.isEmpty {
                        inputNodes = signature.inputs.map(\.key)
                        if inputShapes.isEmpty, signature.inputs.allSatisfy({ $0.shape != nil }) { inputShapes = signature.inputs.map { $0.shape! } }
                    }
                    if outputNodes.isEmpty { outputNodes = signature.outputs }
                    let files = try SavedModelReader.files(directory: full).map { FreezeStage.relative($0, root) }
                    freeze = SavedModelStage(model: model.name, directory: directory, files: files, signature: model.signature)
                } catch {
                    // Named as the manifest names it, not by the repository's place on this machine.
                    let text = "\(error)"
                    throw Failure(description: "\(model.location): model '\(model.name)': "
                                  + (text.hasPrefix(full) ? directory + text.dropFirst(full.count) : text))
                }
                byID[freeze.id] = freeze
                targets.append(BuildTarget(name: model.name, stages: [freeze.id],
                                           outputs: [Materialization(stage: freeze.id, output: FreezeStage.frozenGraph,
                                                                     path: "build/\(model.name)/\(FreezeStage.frozenGraph)")]))
                graph = .output(freeze.id, FreezeStage.frozenGraph)
            } else if let checkpoint = model.checkpoint {
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
                byID[freeze.id] = freeze
                targets.append(BuildTarget(name: model.name, stages: [freeze.id],
                                           outputs: [Materialization(stage: freeze.id, output: FreezeStage.frozenGraph,
                                                                     path: "build/\(model.name)/\(FreezeStage.frozenGraph)")]))
                graph = .output(freeze.id, FreezeStage.frozenGraph)
                freezeID = freeze.id
            }
            let frozenFrom = model.savedModel.map { "SavedModel \($0)" } ?? model.graph
            models[model.name] = QuantizeJob.Model(name: model.name, graph: graph, freezeStage: freezeID, inputNodes: inputNodes,
                                                   outputNodes: outputNodes, inputShapes: inputShapes,
                                                   origin: freezeID == nil && model.savedModel == nil ? nil
                                                       : "model '\(model.name)' (\(model.location), frozen from \(frozenFrom))")
        }
        let dpuTargets = try Self.targets(of: manifest)
        // Every strategy, used by a build or not: a key that would not act is refused where it was written.
        for spec in manifest.strategies.values.sorted(by: { $0.name < $1.name }) {
            do { _ = try QuantizeStrategy(settings: spec.settings, origins: spec.origins) } catch { throw Failure(description: error.description) }
        }
        var jobs: [String: QuantizeJob] = [:]
        for cell in manifest.cells {
            let strategy: QuantizeStrategy
            do { strategy = try QuantizeStrategy(settings: cell.strategy, origins: cell.strategyOrigins) } catch {
                throw Failure(description: error.description)
            }
            if let dump = cell.dump, strategy.scheme.isFloatScale {
                throw Failure(description: "\(dump.location): 'dump' is not supported for \(strategy.scheme.rawValue) (cell \(cell.name)): float-scale models have no FixNeurons to dump")
            }
            // A cell its target cannot run is refused here, at its place in the build's matrix.
            let target = dpuTargets[cell.target]!
            if let why = target.refusal(of: strategy, place: { cell.strategyOrigins[$0]?.description ?? "strategy '\(cell.strategyName)'" }) {
                throw Failure(description: "\(cell.location): cell \(cell.name): \(why)")
            }
            let calibration = manifest.calibrations[cell.calibration]!
            // Image inputs become prepare stages (calibration prepares only the rows it reads).
            let calibrationInputs = Self.inputs(calibration.inputs, section: "calibration", set: calibration.name,
                                                limit: calibration.batchSize * calibration.calibIter, labels: nil, stages: &byID)
            var evaluation: QuantizeJob.Evaluation? = nil
            if let spec = cell.evaluation.flatMap({ manifest.evaluations[$0] }) {
                let inputs = Self.inputs(spec.inputs, section: "evaluation", set: spec.name, limit: nil, labels: spec.labels, stages: &byID)
                let labels: StageInput
                switch spec.labels {
                case .file(let path): labels = .file(path)
                case .folders:
                    // The one image input's prepare stage also writes the labels (the loader checked there is one).
                    guard case .output(let stage, _)? = inputs.values.first(where: { if case .output = $0 { true } else { false } }) else {
                        throw Failure(description: "\(spec.location): evaluation '\(spec.name)': labels: folders needs an image input")
                    }
                    labels = .output(stage, PrepareStage.labels)
                }
                evaluation = .init(data: .init(name: spec.name, inputs: inputs, batchSize: spec.batchSize, iterations: Int.max),
                                   labels: labels, output: spec.output)
            }
            let job = QuantizeJob(
                name: cell.name, model: models[cell.model]!,
                calibration: .init(name: calibration.name, inputs: calibrationInputs, batchSize: calibration.batchSize,
                                   iterations: calibration.calibIter),
                evaluation: evaluation,
                dump: cell.dump.map { .init(batchSize: $0.batchSize, maxDumpBatches: $0.maxDumpBatches, dumpFloat: $0.dumpFloat,
                                            naming: .init(rawValue: $0.naming) ?? .code) },
                strategy: strategy, target: target, outputFolder: "build/\(cell.name)", suffix: suffixes[cell.model])
            if let evaluation = cell.evaluation.flatMap({ manifest.evaluations[$0] }), let output = evaluation.output,
               !job.model.outputNodes.contains(output) {
                throw Failure(description: "\(evaluation.outputLocation ?? evaluation.location): evaluation '\(evaluation.name)': output '\(output)' "
                              + "is not an output of model '\(cell.model)' (\(job.model.outputNodes.joined(separator: ", ")))")
            }
            jobs[cell.name] = job
        }
        // Jobs sharing a calibration keep errors for all their bit widths: one float pass each.
        let calibrations = jobs.mapValues(\.calibrateStageID)
        var needs: [StageID: QuantizeJob.CalibrationNeeds] = [:]
        for (name, job) in jobs { needs[calibrations[name]!, default: .init()].formUnion(job.ownCalibrationNeeds) }
        for name in jobs.keys.sorted() {
            jobs[name]!.calibrationNeeds = needs[calibrations[name]!]!
            let chain = jobs[name]!.chain
            for stage in chain.stages { byID[stage.id] = stage }
            targets.append(chain.target(name))
        }
        self.stages = byID.keys.sorted().map { byID[$0]! }
        self.targets = targets
        self.jobs = jobs
        self.suffixes = suffixes
    }

    /// A set's inputs as stage inputs: a `.npy` file as it is, an image source through its
    /// prepare stage (added to `stages`), which also writes the labels of `labels: folders`.
    static func inputs(_ sources: [String: InputSource], section: String, set: String, limit: Int?, labels: LabelSource?,
                       stages: inout [StageID: any Stage]) -> [String: StageInput] {
        var out: [String: StageInput] = [:]
        for (node, source) in sources {
            switch source {
            case .array(let path): out[node] = .file(path)
            case .images(let images):
                var classes: [String]? = nil
                if case .folders(let names, _)? = labels { classes = names }
                let stage = PrepareStage(section: section, set: set, node: node, images: images, limit: limit, classes: classes)
                stages[stage.id] = stage
                out[node] = .output(stage.id, PrepareStage.data)
            }
        }
        return out
    }

    /// Every target of the manifests, typed (a refused key fails the load even when no build uses it).
    static func targets(of manifest: Manifest) throws(Failure) -> [String: DPUTarget] {
        var out: [String: DPUTarget] = [:]
        for spec in manifest.targets.values.sorted(by: { $0.name < $1.name }) {
            do { out[spec.name] = try DPUTarget(name: spec.name, settings: spec.settings, origins: spec.origins, knownOps: TFOp.dpuOpNames) } catch {
                throw Failure(description: error.description)
            }
        }
        return out
    }

    /// Targets whose names match any of `patterns` (shell globs, fnmatch(3); `all` matches all).
    public func targets(matching patterns: [String]) throws(Failure) -> [BuildTarget] {
        var out: [BuildTarget] = []
        // Every name is checked, also beside `all` (`all typo` is an error, not a build of all).
        for pattern in patterns where pattern != "all" {
            let matched = targets.filter { fnmatch(pattern, $0.name, 0) == 0 }
            guard !matched.isEmpty else {
                var message = "no target matches '\(pattern)'"
                let names = targets.map(\.name)
                if !names.isEmpty { message += "; targets: " + names.joined(separator: ", ") }
                throw Failure(description: message)
            }
            for t in matched where !out.contains(where: { $0.name == t.name }) { out.append(t) }
        }
        return patterns.isEmpty || patterns.contains("all") ? targets : out
    }
}

extension Pipeline {
    /// Per power-of-two cell whose quantize stage ran in `report`: a warning naming its LeakyRelu
    /// nodes whose slope the DPU cannot run, and one when its quantized model would split into
    /// more than one DPU subgraph on its target (the CPU nodes between them named): each split is
    /// a round trip between the DPU and the CPU at run time.
    public func dpuSplitWarnings(_ report: BuildReport, cache: BuildCache) -> [String] {
        var warnings: [String] = []
        for name in jobs.keys.sorted() {
            let job = jobs[name]!
            guard !job.strategy.scheme.isFloatScale,
                  let quantize = job.chain.stages.first(where: { $0 is QuantizeStage }),
                  case .ran? = report.outcomes[quantize.id],
                  let digest = report.outputs[quantize.id]?[QuantizeStage.evalModel],
                  let graph = try? GraphDefIO.read(cache.objectPath(digest)) else { continue }
            // A LeakyRelu of another slope than the DPU's is quantized as the reference quantizer
            // does (its alpha unchanged), but the DPU cannot run it.
            let slopes = graph.node.filter { $0.tfOp == .leakyRelu && DPUPartition.side($0, supportedOps: job.target.supportedOps) == .cpu }
            if !slopes.isEmpty {
                warnings.append("\(name): " + slopes.prefix(5).map { "LeakyRelu '\($0.name)' has alpha \($0.attr["alpha"]?.f ?? 0.2)" }.joined(separator: ", ")
                                + (slopes.count > 5 ? ", ..." : "") + "; \(job.target.name) runs only alpha 0.1 (as 26/256), so "
                                + (slopes.count == 1 ? "it runs" : "they run") + " on the CPU")
            }
            let partition = DPUPartition(graph: graph, supportedOps: job.target.supportedOps, outputs: job.model.outputNodes)
            guard partition.subgraphs.count > 1 else { continue }
            let between = partition.cpu.prefix(5).map { "\($0.name) (\($0.op))" }.joined(separator: ", ")
                + (partition.cpu.count > 5 ? ", ..." : "")
            warnings.append("\(name): the quantized model splits into \(partition.subgraphs.count) DPU subgraphs on \(job.target.name); "
                            + "on the CPU: \(between) (vaiq-build inspect --target \(job.target.name) lists them)")
        }
        return warnings
    }
}
