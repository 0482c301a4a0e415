import BuildCore
import Manifest

/// The quantize chain of each matrix cell, as stage declarations: ids, kinds, the exact
/// parameters each stage reads, and its inputs. The passes that run them are attached by kind.
///
///     freeze/<model> -> optimize/<model>/<opt> -> calibrate/<model>/<calibration>/<opt>
///                                              -> quantize/<cell> -> deploy/<cell>
///
/// `<opt>` is a short digest of the optimize settings, so strategies that optimize the same way
/// share one optimized graph and one float calibration: a 4 x 4 matrix of bit widths and targets
/// calibrates once per (model, calibration set, optimize settings).
public enum StagePlanner {
    /// Strategy fields that change the optimized float graph (spec §3.2: BN folding, CLE, DPU
    /// simulation rewrites).
    public static let optimizeFields: Set<String> = [
        "fold_constant", "fold_bn", "do_cle", "replace_relu6", "replace_sigmoid", "replace_softmax",
        "simulate_dpu", "scale_all_avgpool",
    ]
    /// Float calibration records statistics every method and bit width can use, so it reads no
    /// strategy field: only the calibration set's own batch_size and calib_iter.
    public static let calibrateFields: Set<String> = []
    public static let quantizeFields: Set<String> = [
        "quantize_scheme", "weight_bit", "activation_bit", "method", "nodes_bit", "nodes_method", "ignore_nodes",
        "align_concat", "align_pool", "adjust_shift_bias", "adjust_shift_cut", "keep_float_weight", "per_channel",
        "calib_method", "calib_percentile",
    ]
    public static let quantizeTargetFields: Set<String> = ["arch_type"]
    public static let deployTargetFields: Set<String> = ["deploy_format", "arch_type"]

    public struct Declaration: Sendable, Equatable {
        public let id: StageID
        public let kind: String
        public let parameters: [String: ParameterValue]
        public let inputs: [String: StageInput]
        /// Output name -> where it is copied in the repository (the vendor's file names).
        public var materialize: [String: String] = [:]
    }

    /// The declarations of every cell's chain after freeze, without duplicates, in a stable order.
    /// `suffixes` maps a checkpoint-built model to its output-name suffix (`OutputNames.suffix`).
    public static func declarations(for manifest: Manifest, suffixes: [String: String] = [:]) -> [Declaration] {
        var out: [StageID: Declaration] = [:]
        for cell in manifest.cells {
            guard let model = manifest.models[cell.model], let calibration = manifest.calibrations[cell.calibration] else { continue }
            let graph: StageInput = model.checkpoint != nil ? .output(StageID("freeze/\(model.name)"), "frozen_graph.pb")
                                                             : .file(model.graph)
            let optParams = pick(cell.strategy, optimizeFields).merging([
                "input_nodes": .list(model.inputNodes.map { .string($0) }),
                "output_nodes": .list(model.outputNodes.map { .string($0) }),
                "input_shapes": .list(model.inputShapes.map { .list($0.map { .int($0) }) }),
            ]) { a, _ in a }
            let opt = String(ContentDigest(of: Array(ParameterValue.map(optParams).canonical.utf8)).description.prefix(8))
            let optimize = StageID("optimize/\(model.name)/\(opt)")
            out[optimize] = Declaration(id: optimize, kind: "optimize", parameters: optParams, inputs: ["graph": graph])

            let calibrate = StageID("calibrate/\(model.name)/\(calibration.name)/\(opt)")
            var calibInputs: [String: StageInput] = ["graph": .output(optimize, "optimized_graph.pb")]
            for (node, file) in calibration.inputs { calibInputs["data:\(node)"] = .file(file) }
            out[calibrate] = Declaration(id: calibrate, kind: "calibrate",
                                         parameters: ["batch_size": .int(calibration.batchSize), "calib_iter": .int(calibration.calibIter)],
                                         inputs: calibInputs)

            let folder = "build/\(cell.name)"
            let suffix = suffixes[model.name]
            let quantize = StageID("quantize/\(cell.name)")
            var quantizeInputs: [String: StageInput] = ["graph": .output(optimize, "optimized_graph.pb"),
                                                        "aux": .output(optimize, "aux_graph.pb"),
                                                        "statistics": .output(calibrate, "statistics")]
            // pof2s_tqt takes positions from the thresholds a quantize-aware training run saved.
            if model.checkpoint != nil, case .string("pof2s_tqt")? = cell.strategy["quantize_scheme"] {
                quantizeInputs["thresholds"] = .output(StageID("freeze/\(model.name)"), "trained_thresholds.json")
            }
            out[quantize] = Declaration(id: quantize, kind: "quantize",
                                        parameters: pick(cell.strategy, quantizeFields).merging(pick(cell.targetSettings, quantizeTargetFields)) { a, _ in a },
                                        inputs: quantizeInputs,
                                        materialize: ["quantize_eval_model.pb": "\(folder)/\(OutputNames.quantizeEvalModel(suffix: suffix))",
                                                      "quantize_eval_model_tf.pb": "\(folder)/\(OutputNames.stockModel(suffix: suffix))",
                                                      "quantize_train_graph.pb": "\(folder)/quantize_train_graph.pb",
                                                      "qat_inference_graph.pb": "\(folder)/qat_inference_graph.pb",
                                                      "quantize_eval_graph.pb": "\(folder)/\(OutputNames.evalGraph(suffix: suffix))",
                                                      OutputNames.quantInfo: "\(folder)/\(OutputNames.quantInfo)"])
            if let evalName = cell.evaluation, let evaluation = manifest.evaluations[evalName] {
                let evaluate = StageID("evaluate/\(cell.name)")
                var inputs: [String: StageInput] = ["model": .output(quantize, "quantize_eval_model.pb"),
                                                    "float": .output(optimize, "optimized_graph.pb"),
                                                    "labels": .file(evaluation.labels)]
                for (node, file) in evaluation.inputs { inputs["data:\(node)"] = .file(file) }
                out[evaluate] = Declaration(id: evaluate, kind: "evaluate",
                                            parameters: ["batch_size": .int(evaluation.batchSize), "metric": .string(evaluation.metric),
                                                         "input_nodes": .list(model.inputNodes.map { .string($0) }),
                                                         "output_nodes": .list(model.outputNodes.map { .string($0) })]
                                                .merging(pick(cell.targetSettings, quantizeTargetFields)) { a, _ in a },
                                            inputs: inputs,
                                            materialize: [OutputNames.metrics: "\(folder)/\(OutputNames.metrics)"])
            }
            // Float-scale strategies target CPUs/GPUs: no DPU deploy model.
            if case let .string(scheme)? = cell.strategy["quantize_scheme"], scheme == "fs" || scheme == "fsx" { continue }
            let deploy = StageID("deploy/\(cell.name)")
            let range: [String: ParameterValue] = ["input_nodes": .list(model.inputNodes.map { .string($0) }),
                                                   "output_nodes": .list(model.outputNodes.map { .string($0) }),
                                                   "input_shapes": .list(model.inputShapes.map { .list($0.map { .int($0) }) })]
            out[deploy] = Declaration(id: deploy, kind: "deploy", parameters: pick(cell.targetSettings, deployTargetFields).merging(range) { a, _ in a },
                                      inputs: ["model": .output(quantize, "quantize_eval_model.pb")],
                                      materialize: ["deploy_model.pb": "\(folder)/\(OutputNames.deployModel(suffix: suffix))"])
        }
        return out.keys.sorted().map { out[$0]! }
    }

    private static func pick(_ settings: [String: ParameterValue], _ fields: Set<String>) -> [String: ParameterValue] {
        settings.filter { fields.contains($0.key) }
    }
}
