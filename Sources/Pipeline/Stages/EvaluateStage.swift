import BuildCore
import FileIO
import PTQ
import TensorFlowIO
import Tensors

/// evaluate(quantized model, optimized float graph, labeled set): top-1/top-5 of both on the
/// labelled output (the evaluation's `output`, default the first) and its SQNR, every output's
/// SQNR too when there are several -> `metrics.json`. The float side is the optimized graph, so
/// the numbers isolate what quantizing cost (the DPU simulation's rewrites are in both).
struct EvaluateStage: TypedStage {
    /// 7: every output's SQNR for several outputs, and the labelled output (history: 6 the
    /// quantized models it reads changed with the quantize stage).
    static let identity = StageKind(name: "evaluate", version: 7)

    struct Settings: Codable, Sendable, Equatable {
        var batchSize: Int
        var inputNodes: [String]
        var outputNodes: [String]
        /// Power-of-two models simulate the target's activation range; nil for float scales.
        var archType: String?
        /// The output the labels score; nil: the first (and then not in the key).
        var labelledOutput: String?
    }

    static let metrics = OutputNames.metrics

    let declaration: StageDeclaration<Settings>
    let outputNames = [Self.metrics]
    let maxThreads = 64
    let memoryMegabytes = 4096

    init(job: QuantizeJob, evaluation: QuantizeJob.DataSet, labels: StageInput, quantize: QuantizeStage, optimize: OptimizeStage) {
        let id = StageID("evaluate/\(job.name)")
        let settings = Settings(batchSize: evaluation.batchSize, inputNodes: job.model.inputNodes, outputNodes: job.model.outputNodes,
                            archType: job.strategy.scheme.isFloatScale ? nil : job.target.archType.rawValue,
                            labelledOutput: job.evaluation?.output)
        var inputs: [String: StageInput] = ["model": .output(quantize.id, QuantizeStage.evalModel),
                                            "float": .output(optimize.id, OptimizeStage.optimizedGraph),
                                            "labels": labels]
        for (node, source) in evaluation.inputs { inputs[StageIO.dataPrefix + node] = source }
        declaration = StageDeclaration(id: id, settings: settings, inputs: inputs)
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let batches = try StageIO.batches(context.inputPaths, batchSize: settings.batchSize, iterations: Int.max, allowPartial: true)
        let labelsPath = context.inputPaths["labels"]!
        let labels = try Evaluator.labels(try NPY.decode(try FileIO.read(labelsPath), name: labelsPath), path: labelsPath,
                                          rows: batches.reduce(0) { $0 + ($1.values.first?.shape.first ?? 0) })
        let quantized = try Optimizer.cut(try GraphDefIO.read(context.inputPaths["model"]!), inputs: settings.inputNodes,
                                          outputs: settings.outputNodes, path: "\(id)")
        let metrics = try Evaluator.evaluate(quantized: quantized, float: try GraphDefIO.read(context.inputPaths["float"]!),
                                             outputNodes: settings.outputNodes, batches: batches,
                                             labels: labels, labelsPath: labelsPath,
                                             narrowActivations: settings.archType == DPUTarget.ArchType.dpucadf8h.rawValue,
                                             threads: context.threadBudget, labelledOutput: settings.labelledOutput)
        return [Self.metrics: try StageIO.json(metrics)]
    }
}
