import BuildCore
import FileIO
import Foundation
import Manifest

/// The built-in strategies and targets (manifests/ of this project, embedded), resolved and typed:
/// what the one-shot commands use by name, with no repository.
public enum BuiltinSettings {
    public static func manifest() throws(Pipeline.Failure) -> Manifest {
        do { return try ManifestLoader.builtins() } catch { throw Pipeline.Failure(description: error.description) }
    }

    /// The manifests of the repository at `repo` (over the built-ins) when it has a manifests/
    /// folder, else the built-ins alone: where `show` and `inspect --target` look names up.
    public static func manifest(repository repo: String, dataRoots: DataRoots = DataRoots()) throws(Pipeline.Failure) -> Manifest {
        guard FileIO.isDirectory(FileIO.resolve("manifests", relativeTo: repo)) else { return try manifest() }
        do { return try ManifestLoader.load(root: repo, dataRoots: dataRoots) } catch { throw Pipeline.Failure(description: error.description) }
    }

    /// The strategy `name` with `overrides` (field, value, the flag that set it) applied; a value
    /// that would not act is refused naming its flag.
    public static func strategy(_ name: String, overrides: [(field: String, value: ParameterValue, flag: String)] = [])
        throws(Pipeline.Failure) -> QuantizeStrategy {
        let manifest = try manifest()
        guard let spec = manifest.strategies[name] else {
            throw Pipeline.Failure(description: "unknown strategy '\(name)'; built-in: " + manifest.strategies.keys.sorted().joined(separator: ", "))
        }
        var settings = spec.settings, origins = spec.origins
        var flagged: [String: (ParameterValue, String)] = [:]
        for o in overrides {
            let origin = SourceLocation(file: o.flag, line: 0, column: 0)
            // A block flag (--weight '{...}') merges into the strategy's block; its shorthand keys
            // are the flat fields, which a flag of their own may not contradict.
            var assignments = [(o.field, o.value)]
            if ObjectBlock.objects.contains(o.field) {
                let (fields, block) = ObjectBlock.split(o.field, o.value)
                assignments = [(o.field, ObjectBlock.merged(block, over: settings[o.field]))] + fields.map { ($0.field, $0.value) }
            }
            for (field, value) in assignments {
                if let (earlier, flag) = flagged[field], earlier != value {
                    throw Pipeline.Failure(description: "\(o.flag) sets \(field) to \(value.canonical), but \(flag) sets it to \(earlier.canonical); they are one setting")
                }
                if !ObjectBlock.objects.contains(field) { flagged[field] = (value, o.flag) }
                settings[field] = value
                origins[field] = origin
            }
        }
        do { return try QuantizeStrategy(settings: settings, origins: origins) } catch { throw Pipeline.Failure(description: error.description) }
    }

    /// The typed target `name` of `manifests` (default: the built-ins).
    public static func target(_ name: String, in manifests: Manifest? = nil) throws(Pipeline.Failure) -> DPUTarget {
        let manifest: Manifest
        if let manifests { manifest = manifests } else { manifest = try self.manifest() }
        guard let target = try Pipeline.targets(of: manifest)[name] else {
            throw Pipeline.Failure(description: "unknown target '\(name)'; \(manifests == nil ? "built-in" : "defined"): "
                                   + manifest.targets.keys.sorted().joined(separator: ", "))
        }
        return target
    }
}

extension QuantizeJob {
    /// The one-shot command's job: a frozen graph file, `.npy` inputs per input node (paths as
    /// given), a strategy and a target, outputs under `outputFolder` with the vendor's plain names.
    public static func oneShot(graph: String, inputNodes: [String], outputNodes: [String], inputShapes: [[Int]],
                               calibration: [String: String], batchSize: Int, iterations: Int,
                               evaluation: (inputs: [String: String], labels: String, batchSize: Int)?,
                               strategy: QuantizeStrategy, target: DPUTarget, outputFolder: String) -> QuantizeJob {
        QuantizeJob(name: "quantize",
                    model: Model(name: "model", graph: .file(graph), inputNodes: inputNodes, outputNodes: outputNodes, inputShapes: inputShapes),
                    calibration: DataSet(name: "calibration", inputs: calibration.mapValues { .file($0) }, batchSize: batchSize,
                                         iterations: iterations),
                    evaluation: evaluation.map {
                        Evaluation(data: DataSet(name: "evaluation", inputs: $0.inputs.mapValues { .file($0) }, batchSize: $0.batchSize,
                                                 iterations: .max),
                                   labels: .file($0.labels))
                    },
                    strategy: strategy, target: target, outputFolder: outputFolder)
    }

    /// Runs the job's stages (the same types, parameters and keys as a build's) in a cache of its
    /// own, then places the outputs under `outputFolder`. The cache is a fresh temporary
    /// directory unless `cacheRoot` names one to reuse. File inputs are relative to `root`.
    public func run(threads: Int, root: String = ".", cacheRoot: String? = nil, observer: BuildObserver? = nil)
        throws(Pipeline.Failure) -> BuildSession.Result {
        let directory: String
        if let cacheRoot {
            directory = cacheRoot
        } else {
            var template = Array((NSTemporaryDirectory() + "vaiq-quantize-XXXXXX").utf8CString)
            guard let made = mkdtemp(&template) else { throw Pipeline.Failure(description: "cannot create a temporary cache directory") }
            directory = String(cString: made)
        }
        defer { if cacheRoot == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let cache: BuildCache
        // A private temporary cache need not survive a crash: no fsync, outputs hard-linked out of it.
        do { cache = try BuildCache(root: directory, durable: cacheRoot != nil) } catch { throw Pipeline.Failure(description: error.description) }
        let chain = self.chain
        let session = try BuildSession(root: root, stages: chain.stages, cache: cache)
        let result = try session.build([chain.target(name)], options: BuildOptions(jobs: threads), observer: observer)
        // The first failure in chain order, as the stage reported it.
        if let failed = session.plan.order.first(where: { result.report.errors[$0] != nil }) {
            throw Pipeline.Failure(description: result.report.errors[failed]!)
        }
        return result
    }
}
