import ArgumentParser
import FileIO
import Foundation
import PTQ
import Quantizer
import SwiftProtobuf
import TensorFlowIO
import Tensors

/// The vendor's one-shot `vai_q_tensorflow quantize`, with its flag names; `input_fn` is replaced
/// by declarative data (`--calib_data NAME=FILE.npy`).
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a frozen graph with vai_q_tensorflow's flags (post-training, power-of-two positions).",
        discussion: """
            Writes OUTPUT_DIR/quantize_eval_model.pb (FixNeuron nodes with the final positions, as \
            vai_q_tensorflow writes it), OUTPUT_DIR/quantize_eval_model_tf.pb (the same model in stock \
            TensorFlow ops: weights stored quantized, activations through FakeQuantWithMinMaxVars, so \
            unmodified TensorFlow scripts evaluate it), OUTPUT_DIR/quant_info.json (every quantized \
            tensor: node, kind, mode, bit width, method, position, and which rule adjusted it), and the \
            quantize-aware training pair OUTPUT_DIR/quantize_train_graph.pb (weights as variables, \
            FakeQuant at every position) and qat_inference_graph.pb (the same variables, no FakeQuant: \
            freeze it with the fine-tuned checkpoint), and OUTPUT_DIR/deploy_model.pb (the legacy \
            extended format: no FixNeurons, positions as wpos/bpos/opos/ipos attributes, weights inside \
            the conv nodes). \
            Calibration runs the optimized float graph over --calib_iter batches of --calib_batch_size \
            rows of the --calib_data arrays (default batch: rows / calib_iter).
            """
    )

    @Option(name: .customLong("input_frozen_graph"), help: "The frozen GraphDef (.pb or .pbtxt).")
    var inputFrozenGraph: String
    @Option(name: .customLong("input_nodes"), help: "Comma-separated input nodes (they become placeholders).")
    var inputNodes: String
    @Option(name: .customLong("output_nodes"), help: "Comma-separated output nodes.")
    var outputNodes: String
    @Option(name: .customLong("input_shapes"), help: "Shapes of the input nodes, ':'-separated, ? for unknown (e.g. ?,224,224,3).")
    var inputShapes: String
    @Option(name: .customLong("calib_data"), help: "NAME=FILE.npy[,NAME=FILE.npy]: calibration inputs, one row per sample.")
    var calibData: String
    @Option(name: .customLong("calib_iter"), help: "Calibration batches.")
    var calibIter = 100
    @Option(name: .customLong("calib_batch_size"), help: "Rows per calibration batch (default: rows / calib_iter).")
    var calibBatchSize: Int?
    @Option(name: .customLong("weight_bit")) var weightBit = 8
    @Option(name: .customLong("activation_bit")) var activationBit = 8
    @Option(name: .customLong("method"), help: "0 non-overflow, 1 min-diffs, 2 min-diffs with the depthwise strategy.")
    var method = 1
    @Option(name: .customLong("ignore_nodes"), help: "Comma-separated nodes left in float.")
    var ignoreNodes = ""
    @Option(name: .customLong("nodes_bit"), help: "name:bit pairs, comma-separated.")
    var nodesBit = ""
    @Option(name: .customLong("nodes_method"), help: "name:method pairs, comma-separated.")
    var nodesMethod = ""
    @Option(name: .customLong("align_concat"), help: "0 all concats, 1 output concats, 2 none.")
    var alignConcat = 0
    @Option(name: .customLong("align_pool"), help: "0 all max pools, 1 output pools, 2 none.")
    var alignPool = 0
    @Option(name: .customLong("adjust_shift_bias"), help: "0 off, 1 static, 2 dynamic (bound from the reduction length).")
    var adjustShiftBias = 1
    @Option(name: .customLong("adjust_shift_cut"), help: "0 off, 1 on.")
    var adjustShiftCut = 1
    @Option(name: .customLong("simulate_dpu"), help: "1: rewrite the graph to compute what the DPU computes (Mean -> AvgPool, AvgPool scale, LeakyRelu 26/256, hard sigmoid).")
    var simulateDPU = 1
    @Option(name: .customLong("scale_all_avgpool"), help: "1: every AvgPool gets the DPU's factor, not only 3/5/6/7/14.")
    var scaleAllAvgPool = 1
    @Option(name: .customLong("replace_sigmoid"), help: "1: Sigmoid -> hard sigmoid.")
    var replaceSigmoid = 0
    @Option(name: .customLong("do_cle"), help: "1: cross-layer equalization of conv chains before quantizing.")
    var doCLE = 0
    @Option(name: .customLong("replace_relu6"), help: "1 (with do_cle): Relu6 -> Relu, as equalization needs.")
    var replaceRelu6 = 1
    @Option(name: .customLong("arch_type"), help: "DEFAULT or DPUCADF8H (activations saturate at -127).")
    var archType = "DEFAULT"
    @Option(name: .customLong("output_dir"), help: "Where the models and quant_info.json are written.")
    var outputDir = "quantize_results"
    @Option(name: [.customShort("j", allowingJoined: true), .long], help: "Threads (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard (0...2).contains(method) else { throw ValidationError("--method must be 0, 1 or 2") }
        guard (1...16).contains(weightBit), (1...16).contains(activationBit) else { throw ValidationError("bit widths must be 1-16") }
        guard ["DEFAULT", "DPUCADF8H"].contains(archType) else { throw ValidationError("--arch_type must be DEFAULT or DPUCADF8H") }
        guard (0...2).contains(alignConcat), (0...2).contains(alignPool), (0...2).contains(adjustShiftBias), (0...1).contains(adjustShiftCut) else {
            throw ValidationError("--align_concat/--align_pool/--adjust_shift_bias take 0-2, --adjust_shift_cut 0-1")
        }
        guard calibIter >= 1, calibBatchSize.map({ $0 >= 1 }) ?? true, jobs >= 1 else {
            throw ValidationError("--calib_iter, --calib_batch_size and -j must be positive")
        }
    }

    func run() throws {
        let inputs = commaList(inputNodes), outputs = commaList(outputNodes)
        let shapes = try parseInputShapes(inputShapes)
        guard shapes.count == inputs.count else {
            throw CommandFailure(message: "--input_shapes gives \(shapes.count) shapes for \(inputs.count) input nodes")
        }
        var config = QuantizeConfig()
        config.weightBit = weightBit
        config.activationBit = activationBit
        config.method = PositionMethod(rawValue: method)!
        config.ignoreNodes = Set(commaList(ignoreNodes))
        config.nodesBit = try pairs(nodesBit, "--nodes_bit")
        config.nodesMethod = try pairs(nodesMethod, "--nodes_method")
        config.alignConcat = alignConcat
        config.alignPool = alignPool
        config.adjustShiftBias = adjustShiftBias
        config.adjustShiftCut = adjustShiftCut == 1
        let narrow = archType == "DPUCADF8H"

        let graph = try failing { try GraphDefIO.read(inputFrozenGraph) }
        var optimizeOptions = OptimizeOptions(inputNodes: inputs, outputNodes: outputs, inputShapes: shapes)
        optimizeOptions.simulateDPU = simulateDPU != 0
        optimizeOptions.scaleAllAvgPool = scaleAllAvgPool != 0
        optimizeOptions.replaceSigmoid = replaceSigmoid != 0
        optimizeOptions.doCLE = doCLE != 0
        optimizeOptions.replaceRelu6 = replaceRelu6 != 0
        let optimized = try failing { try Optimizer.optimize(graph, optimizeOptions, path: inputFrozenGraph) }
        let batches = try calibrationBatches(inputs)
        let located = Locator.locate(optimized, config)
        let calibrated = try failing {
            let statistics = try PostTrainingQuantizer.calibrate(optimized, outputNodes: outputs, batches: batches, threads: jobs,
                                                                 path: inputFrozenGraph)
            return try PostTrainingQuantizer.positions(located, graph: optimized, statistics: statistics, narrowActivations: narrow,
                                                       path: inputFrozenGraph)
        }
        let plan = PostTrainingQuantizer.adjust(calibrated, graph: optimized, config: config, outputNodes: outputs)
        try failing {
            try FileIO.createDirectories(outputDir)
            let whole = PostTrainingQuantizer.merge(optimized, aux: try Optimizer.auxiliary(graph, optimizeOptions, path: inputFrozenGraph))
            let eval = PostTrainingQuantizer.evalModel(whole, plan: plan)
            try GraphDefIO.write(eval, to: "\(outputDir)/quantize_eval_model.pb")
            try GraphDefIO.write(PostTrainingQuantizer.stockModel(whole, plan: plan, narrowActivations: narrow),
                                 to: "\(outputDir)/quantize_eval_model_tf.pb")
            let range = try Optimizer.cut(eval, inputs: inputs, outputs: outputs, inputShapes: shapes, path: "\(outputDir)/quantize_eval_model.pb")
            try GraphDefIO.write(try Deployer.deployModel(range, path: "\(outputDir)/quantize_eval_model.pb"), to: "\(outputDir)/deploy_model.pb")
            let qat = PostTrainingQuantizer.trainingGraphs(optimized, plan: plan, narrowActivations: narrow)
            try GraphDefIO.write(qat.train, to: "\(outputDir)/quantize_train_graph.pb")
            try GraphDefIO.write(qat.inference, to: "\(outputDir)/qat_inference_graph.pb")
            try GraphDefIO.write(qat.eval, to: "\(outputDir)/quantize_eval_graph.pb")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try FileIO.writeAtomically(Array(try encoder.encode(plan)) + [0x0A], to: "\(outputDir)/quant_info.json")
        }
        let adjusted = plan.tensors.filter { !$0.adjustedBy.isEmpty }.count
        print("quantized \(inputFrozenGraph): \(plan.tensors.count) tensors (\(plan.tensors.filter { $0.kind == .activation }.count) activations), "
              + "\(batches.count) calibration batches, \(adjusted) positions adjusted -> \(outputDir)/quantize_eval_model.pb")
    }

    private func pairs(_ value: String, _ flag: String) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for item in commaList(value) {
            let parts = item.split(separator: ":")
            guard parts.count == 2, let n = Int(parts[1]) else { throw CommandFailure(message: "\(flag): '\(item)' is not name:number") }
            out[String(parts[0])] = n
        }
        return out
    }

    /// --calib_data arrays cut into calib_iter batches along axis 0.
    private func calibrationBatches(_ inputs: [String]) throws -> [[String: Tensor]] {
        var arrays: [String: Tensor] = [:]
        for spec in commaList(calibData) {
            guard let eq = spec.firstIndex(of: "=") else { throw CommandFailure(message: "--calib_data: '\(spec)' is not NAME=FILE.npy") }
            let name = String(spec[..<eq]), file = String(spec[spec.index(after: eq)...])
            guard inputs.contains(name) else { throw CommandFailure(message: "--calib_data: '\(name)' is not one of --input_nodes (\(inputs.joined(separator: ",")))") }
            arrays[name] = try failing { try NPY.decode(try FileIO.read(file), name: file) }
        }
        for name in inputs where arrays[name] == nil { throw CommandFailure(message: "--calib_data: no data for input node '\(name)'") }
        let rows = arrays.values.map { $0.shape.first ?? 0 }.min() ?? 0
        return try failing { try DataBatches.split(arrays, batchSize: calibBatchSize ?? max(1, rows / calibIter), limit: calibIter) }
    }
}
