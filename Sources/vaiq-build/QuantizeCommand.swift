import ArgumentParser
import BuildCore
import FileIO
import Foundation
import Manifest
import PTQ
import Pipeline
import TensorFlowIO
import Tensors

/// The vendor's one-shot `vai_q_tensorflow quantize`, with its flag names; `input_fn` is replaced
/// by declarative data (`--calib_data NAME=FILE.npy`). It describes its work as a `QuantizeJob`
/// and runs the same stages as a build: the same strategy fields, the same bytes.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a frozen graph with vai_q_tensorflow's flags (post-training; any built-in strategy and target).",
        discussion: """
            Runs the build's optimize, calibrate, quantize, deploy (and, with --eval_data, evaluate) \
            stages in a temporary cache and writes to OUTPUT_DIR what a build cell writes: \
            quantize_eval_model.pb (FixNeuron nodes with the final positions, as vai_q_tensorflow \
            writes it), quantize_eval_model_tf.pb (the same model in stock TensorFlow ops), \
            quant_info.json (every quantized tensor: node, kind, mode, bit width, method, position, \
            and which rule adjusted it), the quantize-aware training graphs quantize_train_graph.pb, \
            qat_inference_graph.pb and quantize_eval_graph.pb, and deploy_model.pb (the legacy \
            extended format). Float-scale strategies (fs, fsx) write the two models and \
            quant_info.json only. --quantize_strategy picks a built-in strategy (`vaiq-build show \
            pof2s_tf1` lists its fields); the default, pof2s_tf1, quantizes as vai_q_tensorflow does, \
            so its scripts give the same results (the builds' pof2s adds bias correction and the \
            non-clipping align rule). --target picks a built-in target (default DPUCZDX8G, or cpu for fs \
            and fsx); a strategy it cannot run (4-bit weights on an 8-bit DPU: use dpu-sim; float scales \
            on a DPU) is refused. Every strategy field is also a \
            flag of the same name overriding the strategy (a quantizer block, --weight '{scheme: pof2s}', \
            merges into the strategy's), and a value that would not act for the \
            strategy's scheme (e.g. --per_channel 1 under pof2s) is refused. Calibration runs the \
            optimized float graph over --calib_iter batches of --calib_batch_size rows of the \
            --calib_data arrays (default batch: rows / calib_iter).

            Strategy flags (defaults: the strategy's values; `vaiq-build show STRATEGY`):
            """ + StrategyField.all.filter { $0.name != "quantize_scheme" }
                .map { "\n  --\($0.name) \(ManifestFieldNames.strategyFlagSyntax($0.name))" }.joined()
    )

    @Option(name: .customLong("input_frozen_graph"), help: "The frozen GraphDef (.pb or .pbtxt).")
    var inputFrozenGraph: String?
    @Option(name: .customLong("input_saved_model"),
            help: "A TF2 SavedModel directory instead: its --signature is frozen first (inputs, outputs and shapes default from it).")
    var inputSavedModel: String?
    @Option(name: .customLong("signature"), help: "The SavedModel's signature (default: serving_default).")
    var signature: String?
    @Option(name: .customLong("input_nodes"), help: "Comma-separated input nodes (they become placeholders).")
    var inputNodes: String?
    @Option(name: .customLong("output_nodes"), help: "Comma-separated output nodes.")
    var outputNodes: String?
    @Option(name: .customLong("input_shapes"), help: "Shapes of the input nodes, ':'-separated, ? for unknown (e.g. ?,224,224,3).")
    var inputShapes: String?
    @Option(name: .customLong("calib_data"), help: "NAME=FILE.npy[,NAME=FILE.npy]: calibration inputs, one row per sample.")
    var calibData: String
    @Option(name: .customLong("calib_iter"), help: "Calibration batches.")
    var calibIter = 100
    @Option(name: .customLong("calib_batch_size"), help: "Rows per calibration batch (default: rows / calib_iter).")
    var calibBatchSize: Int?
    @Option(name: .customLong("quantize_strategy"),
            help: "A built-in strategy: pof2s_tf1 (vai_q_tensorflow's behaviour), pof2s (bias correction, non-clipping align), pof2s_ft, pof2s_tqt, fs, fsx.")
    var quantizeStrategy = "pof2s_tf1"
    @Option(name: .customLong("target"),
            help: "A built-in target: DPUCZDX8G, DPUCAHX8H, DPUCADF8H, DPUCVDX8G, DPUCV2DX8G (8-bit DPUs), dpu-sim (power-of-two at any bit width, simulated), cpu (float scales). Default: DPUCZDX8G, or cpu for fs and fsx.")
    var target: String?
    @Option(name: .customLong("arch_type"), help: "Overrides the target's arch_type: DEFAULT or DPUCADF8H (activations saturate at -127).")
    var archType: String?

    @Argument(parsing: .allUnrecognized, help: "Strategy fields as flags (see above), e.g. --weight_bit 4 --method 0.")
    var strategyFlags: [String] = []

    @Option(name: .customLong("eval_data"), help: "NAME=FILE.npy[,...]: a labeled set; adds the evaluate stage (metrics.json).")
    var evalData: String?
    @Option(name: .customLong("eval_labels"), help: "A .npy of class indices, one per --eval_data row.")
    var evalLabels: String?
    @Option(name: .customLong("eval_batch_size"), help: "Rows per evaluation batch.")
    var evalBatchSize = 32
    @Option(name: .customLong("output_dir"), help: "Where the models and quant_info.json are written.")
    var outputDir = "quantize_results"
    @Option(name: [.customShort("j", allowingJoined: true), .long], help: "Threads (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Print where the time went: each stage's phases (parse, optimize, inference, statistics, quantize, write, ...).")
    var profile = false

    /// `--FIELD VALUE` / `--FIELD=VALUE` pairs of strategy fields: the strategy table is the list of
    /// flags, so a field and its flag cannot drift apart.
    private func fieldFlags() throws -> [(field: String, text: String)] {
        var pairs: [(String, String)] = []
        var rest = strategyFlags[...]
        while let token = rest.popFirst() {
            guard token.hasPrefix("--") else { throw ValidationError("unexpected argument '\(token)'") }
            var name = String(token.dropFirst(2)), value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard name != "quantize_scheme", StrategyField.named(name) != nil else {
                var message = "unknown option '--\(name)'"
                if let guess = ManifestFieldNames.closestStrategyField(to: name), guess != "quantize_scheme" { message += "; did you mean '--\(guess)'?" }
                throw ValidationError(message)
            }
            guard let text = value ?? rest.popFirst() else { throw ValidationError("--\(name) needs a value") }
            pairs.append((name, text))
        }
        return pairs
    }

    /// The strategy and target the flags describe; a bad value or one that would not act is a usage error.
    private func settings() throws -> (QuantizeStrategy, DPUTarget) {
        var overrides: [(field: String, value: ParameterValue, flag: String)] = []
        for (field, text) in try fieldFlags() {
            do { overrides.append((field, try ManifestFieldNames.parseStrategyFlag(field, text, flag: "--\(field)"), "--\(field)")) } catch {
                throw ValidationError(error.description)
            }
        }
        do {
            let strategy = try BuiltinSettings.strategy(quantizeStrategy, overrides: overrides)
            let name = target ?? (strategy.scheme.isFloatScale ? "cpu" : "DPUCZDX8G")
            var dpu = try BuiltinSettings.target(name)
            if let archType {
                guard let arch = DPUTarget.ArchType(rawValue: archType) else { throw ValidationError("--arch_type must be DEFAULT or DPUCADF8H") }
                dpu.archType = arch
            }
            if let why = dpu.refusal(of: strategy, place: { field in
                overrides.last(where: { $0.field == field })?.flag ?? "strategy \(quantizeStrategy)"
            }) {
                throw ValidationError(why + (target == nil ? " (the default target; choose one with --target)" : ""))
            }
            return (strategy, dpu)
        } catch let failure as Pipeline.Failure {
            throw ValidationError(failure.description)
        }
    }

    func validate() throws {
        guard calibIter >= 1, calibBatchSize.map({ $0 >= 1 }) ?? true, jobs >= 1, evalBatchSize >= 1 else {
            throw ValidationError("--calib_iter, --calib_batch_size, --eval_batch_size and -j must be positive")
        }
        guard (evalData == nil) == (evalLabels == nil) else { throw ValidationError("--eval_data and --eval_labels go together") }
        guard (inputFrozenGraph == nil) != (inputSavedModel == nil) else {
            throw ValidationError("give one of --input_frozen_graph and --input_saved_model")
        }
        guard inputSavedModel != nil || signature == nil else { throw ValidationError("--signature needs --input_saved_model") }
        guard inputSavedModel != nil || (inputNodes != nil && outputNodes != nil && inputShapes != nil) else {
            throw ValidationError("--input_frozen_graph needs --input_nodes, --output_nodes and --input_shapes")
        }
        _ = try settings()
    }

    func run() throws {
        let start = ContinuousClock.now
        // A SavedModel is frozen first, into a scratch folder removed at the end (the build's
        // freeze_saved_model stage makes the same bytes); its signature fills what flags leave out.
        var graphFile = inputFrozenGraph ?? ""
        var inputs = commaList(inputNodes ?? ""), outputs = commaList(outputNodes ?? "")
        var shapes = try inputShapes.map(parseInputShapes) ?? []
        var scratch: String?
        defer { if let scratch { try? FileManager.default.removeItem(atPath: scratch) } }
        if let inputSavedModel {
            let loaded = try failing { try SavedModelReader.load(directory: inputSavedModel, signature: signature ?? "serving_default") }
            if inputNodes == nil {
                inputs = loaded.inputs.map(\.key)
                if inputShapes == nil, loaded.inputs.allSatisfy({ $0.shape != nil }) { shapes = loaded.inputs.map { $0.shape! } }
            }
            if outputNodes == nil { outputs = loaded.outputs }
            let dir = NSTemporaryDirectory() + "vaiq-saved-model-\(UUID().uuidString)"
            scratch = dir
            try failing { try FileIO.createDirectories(dir) }
            graphFile = "\(dir)/frozen_graph.pb"
            try failing { try GraphDefIO.write(loaded.graph, to: graphFile) }
        }
        guard shapes.count == inputs.count else {
            throw CommandFailure(message: "--input_shapes gives \(shapes.count) shapes for \(inputs.count) input nodes")
        }
        let (strategy, dpu) = try settings()
        let calibration = try dataFiles(calibData, flag: "--calib_data", inputs: inputs)
        let rows = try failing { try calibration.values.map { try NPY.decode(try FileIO.read($0), name: $0).shape.first ?? 0 }.min() ?? 0 }
        let batchSize = calibBatchSize ?? max(1, rows / calibIter)
        let evaluation = try evalData.map { (inputs: try dataFiles($0, flag: "--eval_data", inputs: inputs), labels: evalLabels ?? "",
                                             batchSize: evalBatchSize) }
        let job = QuantizeJob.oneShot(graph: graphFile, inputNodes: inputs, outputNodes: outputs, inputShapes: shapes,
                                      calibration: calibration, batchSize: batchSize, iterations: calibIter, evaluation: evaluation,
                                      strategy: strategy, target: dpu, outputFolder: outputDir)
        // On a terminal, one status line while it runs (calibration's batches, ETA); nothing otherwise.
        let progress = ProgressPrinter(total: job.chain.stages.count, explain: false, quiet: false, statusOnly: true)
        let result = try failing { try job.run(threads: jobs, observer: progress) }
        progress.clear()
        let batches = min(calibIter, rows / batchSize)
        let info = "\(outputDir)/\(OutputNames.quantInfo)"
        let summary: String
        if let plan = try? JSONDecoder().decode(QuantizePlan.self, from: Data(try failing { try FileIO.read(info) })) {
            summary = "\(plan.tensors.count) tensors (\(plan.tensors.filter { $0.kind == .activation }.count) activations), "
                + "\(batches) calibration batches, \(plan.tensors.filter { !$0.adjustedBy.isEmpty }.count) positions adjusted"
        } else {
            summary = "float scales, \(batches) calibration batches"
        }
        print("quantized \(inputFrozenGraph ?? inputSavedModel ?? "") (\(quantizeStrategy), \(dpu.name)): \(summary) -> \(outputDir)/quantize_eval_model.pb")
        if profile {
            let elapsed = ContinuousClock.now - start
            print(result.profile.text(process: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
        }
    }

    /// `NAME=FILE.npy[,...]`, one file per input node.
    private func dataFiles(_ value: String, flag: String, inputs: [String]) throws -> [String: String] {
        var files: [String: String] = [:]
        for spec in commaList(value) {
            guard let eq = spec.firstIndex(of: "=") else { throw CommandFailure(message: "\(flag): '\(spec)' is not NAME=FILE.npy") }
            let name = String(spec[..<eq])
            guard inputs.contains(name) else {
                throw CommandFailure(message: "\(flag): '\(name)' is not one of --input_nodes (\(inputs.joined(separator: ",")))")
            }
            files[name] = String(spec[spec.index(after: eq)...])
        }
        for name in inputs where files[name] == nil { throw CommandFailure(message: "\(flag): no data for input node '\(name)'") }
        return files
    }
}
