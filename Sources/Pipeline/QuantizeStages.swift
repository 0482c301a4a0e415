import BuildCore
import FileIO
import Foundation
import PTQ
import Quantizer
import TFProto
import TensorFlowIO
import Tensors

/// The stages of a matrix cell's chain after freeze, each a thin wrapper of a PTQ pass. A stage
/// reads exactly the parameters of its declaration (see `StagePlanner`), which are its key.
struct PlannedStage: Stage {
    let declaration: StagePlanner.Declaration
    var id: StageID { declaration.id }
    var kind: String { declaration.kind }
    /// Part of every key: bump it when a pass computes different bytes from the same inputs
    /// (2: DPU simulation, CLE, deploy, QAT graphs; calibration statistics on the located tensors;
    /// 3: float-scale strategies, |x| histograms in the statistics; 4: pre-/post-processing kept;
    /// 5: pof2s_tqt training graphs with trainable thresholds, positions from trained thresholds;
    /// 6: kept pre-/post-processing drops control inputs on nodes optimizing removed; constant
    /// folding (fold_constant) and a constant add after a bias add merged into the bias).
    var version: Int { 6 }
    var parameters: [String: ParameterValue] { declaration.parameters }
    var inputs: [String: StageInput] { declaration.inputs }
    var outputNames: [String] {
        switch kind {
        case "optimize": ["optimized_graph.pb", "aux_graph.pb"]
        case "calibrate": ["statistics"]
        case "evaluate": [OutputNames.metrics]
        case "deploy": ["deploy_model.pb"]
        default:
            Self.isFloatScale(parameters) ? ["quantize_eval_model.pb", "quantize_eval_model_tf.pb", OutputNames.quantInfo]
                : ["quantize_eval_model.pb", "quantize_eval_model_tf.pb", OutputNames.quantInfo, "quantize_train_graph.pb",
                   "qat_inference_graph.pb", "quantize_eval_graph.pb"]
        }
    }
    var maxThreads: Int { ["calibrate", "evaluate"].contains(kind) ? 64 : 1 }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let p = Parameters(values: parameters, stage: id)
        switch kind {
        case "optimize":
            if p.bool("replace_softmax") { throw Failure(description: "\(id): replace_softmax (the DPU's bfloat16 softmax) is not implemented; set replace_softmax: false") }
            let path = context.inputPaths["graph"]!
            let graph = try GraphDefIO.read(path)
            var options = OptimizeOptions(inputNodes: p.strings("input_nodes"), outputNodes: p.strings("output_nodes"),
                                          inputShapes: p.shapes("input_shapes"))
            options.simulateDPU = p.values["simulate_dpu"] == nil || p.bool("simulate_dpu")
            options.scaleAllAvgPool = p.values["scale_all_avgpool"] == nil || p.bool("scale_all_avgpool")
            options.replaceSigmoid = p.bool("replace_sigmoid")
            options.doCLE = p.bool("do_cle")
            options.foldBN = p.values["fold_bn"] == nil || p.bool("fold_bn")
            options.foldConstants = p.values["fold_constant"] == nil || p.bool("fold_constant")
            options.replaceRelu6 = p.values["replace_relu6"] == nil || p.bool("replace_relu6")
            let optimized = try Optimizer.optimize(graph, options, path: path)
            return ["optimized_graph.pb": try GraphDefIO.serialize(optimized, path: path),
                    "aux_graph.pb": try GraphDefIO.serialize(try Optimizer.auxiliary(graph, options, path: path), path: path)]
        case "calibrate":
            let path = context.inputPaths["graph"]!
            let graph = try GraphDefIO.read(path)
            let outputs = Self.outputNodes(of: graph)
            let batches = try Self.batches(context.inputPaths, batchSize: p.int("batch_size"), iterations: p.int("calib_iter"))
            let statistics = try PostTrainingQuantizer.calibrate(graph, outputNodes: outputs, batches: batches,
                                                                 threads: context.threadBudget, path: "optimized graph of \(id)")
            return ["statistics": try Self.json(statistics)]
        case "deploy":
            let path = context.inputPaths["model"]!
            let label = "\(id)"
            // The quantized range only (the reference's deploy strips pre- and post-processing).
            let range = try Optimizer.cut(try GraphDefIO.read(path), inputs: p.strings("input_nodes"), outputs: p.strings("output_nodes"),
                                          inputShapes: p.shapes("input_shapes"), path: label)
            return ["deploy_model.pb": try GraphDefIO.serialize(try Deployer.deployModel(range, path: label), path: label)]
        case "evaluate":
            let batches = try Self.batches(context.inputPaths, batchSize: p.int("batch_size", default: 50), iterations: Int.max,
                                           allowPartial: true)
            let labels = try NPY.decode(try FileIO.read(context.inputPaths["labels"]!), name: context.inputPaths["labels"]!)
            let quantized = try Optimizer.cut(try GraphDefIO.read(context.inputPaths["model"]!), inputs: p.strings("input_nodes"),
                                              outputs: p.strings("output_nodes"), path: "\(id)")
            let metrics = try Evaluator.evaluate(quantized: quantized,
                                                 float: try GraphDefIO.read(context.inputPaths["float"]!),
                                                 outputNodes: p.strings("output_nodes"), batches: batches,
                                                 labels: labels.floatValues().map { Int($0) },
                                                 narrowActivations: p.string("arch_type") == "DPUCADF8H", threads: context.threadBudget)
            return [OutputNames.metrics: try Self.json(metrics)]
        default:
            let scheme = p.string("quantize_scheme") ?? "pof2s"
            let path = context.inputPaths["graph"]!
            let graph = try GraphDefIO.read(path)
            let statistics = try JSONDecoder().decode(CalibrationStatistics.self,
                                                      from: Data(try FileIO.read(context.inputPaths["statistics"]!)))
            let config = try p.quantizeConfig()
            let aux = try GraphDefIO.read(context.inputPaths["aux"]!)
            if Self.isFloatScale(parameters) {
                let calibration: FloatScaleQuantizer.Calibration
                switch p.string("calib_method") ?? "minmax" {
                case "minmax": calibration = .minmax
                case "kl": calibration = .kl
                case "percentile":
                    let value: Double = if case let .double(d)? = p.values["calib_percentile"] { d } else { 99.9999 }
                    calibration = .percentile(value)
                case let other: throw Failure(description: "\(id): calib_method '\(other)' is not minmax, kl or percentile")
                }
                let plan = try FloatScaleQuantizer.plan(graph, config: config, activations: scheme == "fsx", perChannel: p.bool("per_channel"),
                                                        calibration: calibration, statistics: statistics, path: "\(id)")
                let model = try GraphDefIO.serialize(FloatScaleQuantizer.model(PostTrainingQuantizer.merge(graph, aux: aux), plan: plan), path: path)
                return ["quantize_eval_model.pb": model, "quantize_eval_model_tf.pb": model, OutputNames.quantInfo: try Self.json(plan)]
            }
            guard scheme.hasPrefix("pof2s") else { throw Failure(description: "\(id): unknown quantize_scheme \(scheme)") }
            let narrow = p.string("arch_type") == "DPUCADF8H"
            let outputs = Self.outputNodes(of: graph)
            let located = Locator.locate(graph, config)
            var positioned = try PostTrainingQuantizer.positions(located, graph: graph, statistics: statistics, narrowActivations: narrow, path: path)
            var thresholds: [String: Float]?
            var ties: [String: String] = [:]
            if scheme == "pof2s_tqt" {
                // The align rules' structure (which tensors must share a position) from a first pass.
                let calibrated = PostTrainingQuantizer.adjust(positioned, graph: graph, config: config, outputNodes: outputs)
                ties = TrainedThresholds.ties(calibrated)
                let initial = TrainedThresholds.initial(calibrated, graph: graph, statistics: statistics, narrowActivations: narrow)
                let trained = try context.inputPaths["thresholds"].map { try TrainedThresholds.decode(try FileIO.read($0), path: $0) } ?? [:]
                positioned = try TrainedThresholds.apply(trained, to: positioned, ties: ties, path: "\(id)")
                // Training again continues from the trained thresholds.
                thresholds = initial.merging(trained) { _, t in t }
            }
            let plan = PostTrainingQuantizer.adjust(positioned, graph: graph, config: config, outputNodes: outputs)
            let qat = PostTrainingQuantizer.trainingGraphs(graph, plan: plan, narrowActivations: narrow, thresholds: thresholds, ties: ties)
            return [
                "quantize_train_graph.pb": try GraphDefIO.serialize(qat.train, path: path),
                "qat_inference_graph.pb": try GraphDefIO.serialize(qat.inference, path: path),
                "quantize_eval_graph.pb": try GraphDefIO.serialize(qat.eval, path: path),
                "quantize_eval_model.pb": try GraphDefIO.serialize(PostTrainingQuantizer.evalModel(PostTrainingQuantizer.merge(graph, aux: aux),
                                                                                                   plan: plan), path: path),
                "quantize_eval_model_tf.pb": try GraphDefIO.serialize(PostTrainingQuantizer.stockModel(PostTrainingQuantizer.merge(graph, aux: aux),
                                                                                                                       plan: plan, narrowActivations: narrow),
                                                                      path: path),
                OutputNames.quantInfo: try Self.json(plan),
            ]
        }
    }

    /// fs / fsx: float scales and TensorFlow's fake quantization instead of power-of-two positions.
    static func isFloatScale(_ parameters: [String: ParameterValue]) -> Bool {
        if case let .string(s)? = parameters["quantize_scheme"] { return s == "fs" || s == "fsx" }
        return false
    }

    /// The optimized graph's sinks are its output nodes (partitioning kept nothing else).
    static func outputNodes(of graph: Tensorflow_GraphDef) -> [String] {
        let consumed = Set(graph.node.flatMap { $0.input.map { TensorName($0).node } })
        return graph.node.filter { !consumed.contains($0.name) && !["Const", "Placeholder", "NoOp"].contains($0.op) }.map(\.name)
    }

    static func json<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value)) + [0x0A]
    }

    /// Batches of `batch_size` rows from each `data:<node>` input.
    static func batches(_ paths: [String: String], batchSize: Int, iterations: Int, allowPartial: Bool = false) throws -> [[String: Tensor]] {
        var arrays: [String: Tensor] = [:]
        for (key, path) in paths where key.hasPrefix("data:") {
            arrays[String(key.dropFirst(5))] = try NPY.decode(try FileIO.read(path), name: path)
        }
        return try DataBatches.split(arrays, batchSize: batchSize, limit: iterations, allowPartial: allowPartial)
    }
}

/// Typed reads of a stage's canonical parameters.
struct Parameters {
    let values: [String: ParameterValue]
    let stage: StageID

    func int(_ key: String, default value: Int = 0) -> Int {
        switch values[key] {
        case let .int(i)?: i
        case let .bool(b)?: b ? 1 : 0
        case let .double(d)?: Int(d)
        default: value
        }
    }
    func bool(_ key: String) -> Bool {
        switch values[key] {
        case let .bool(b)?: b
        case let .int(i)?: i != 0
        default: false
        }
    }
    func string(_ key: String) -> String? { if case let .string(s)? = values[key] { s } else { nil } }
    func strings(_ key: String) -> [String] {
        guard case let .list(items)? = values[key] else { return [] }
        return items.compactMap { if case let .string(s) = $0 { s } else { nil } }
    }
    func shapes(_ key: String) -> [[Int]] {
        guard case let .list(items)? = values[key] else { return [] }
        return items.map { item in
            guard case let .list(dims) = item else { return [] }
            return dims.map { if case let .int(d) = $0 { d } else { -1 } }
        }
    }
    func intMap(_ key: String) -> [String: Int] {
        guard case let .map(entries)? = values[key] else { return [:] }
        return entries.compactMapValues { if case let .int(i) = $0 { i } else { nil } }
    }

    func quantizeConfig() throws -> QuantizeConfig {
        var c = QuantizeConfig()
        c.weightBit = int("weight_bit", default: 8)
        c.activationBit = int("activation_bit", default: 8)
        guard let method = PositionMethod(rawValue: int("method", default: 1)) else {
            throw PlannedStage.Failure(description: "\(stage): method must be 0, 1 or 2")
        }
        guard (1...16).contains(c.weightBit), (1...16).contains(c.activationBit) else {
            throw PlannedStage.Failure(description: "\(stage): weight_bit and activation_bit must be 1-16")
        }
        c.method = method
        c.nodesBit = intMap("nodes_bit")
        c.nodesMethod = intMap("nodes_method")
        c.ignoreNodes = Set(strings("ignore_nodes"))
        c.alignConcat = int("align_concat")
        c.alignPool = int("align_pool")
        c.adjustShiftCut = int("adjust_shift_cut", default: 1) != 0
        c.adjustShiftBias = int("adjust_shift_bias", default: 1)
        guard (0...2).contains(c.adjustShiftBias) else { throw PlannedStage.Failure(description: "\(stage): adjust_shift_bias must be 0, 1 or 2") }
        return c
    }
}
