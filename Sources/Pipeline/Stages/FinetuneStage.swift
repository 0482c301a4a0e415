import BuildCore
import FileIO
import PTQ
import TensorFlowIO

/// finetune(optimized graph, statistics, calibration set, strategy, target): bias correction and
/// layer-wise fast finetuning at the plan's positions -> the optimized graph with tuned float
/// weights and biases (`graph`, which quantize and qat then read instead of optimize's) and each
/// layer's loss before and after (`finetune.json`). Its key holds what the plan reads (as
/// quantize's), the calibration batches and the finetuning fields, so a matrix shares it across
/// targets with the same activation range and bit widths.
struct FinetuneStage: TypedStage {
    /// 2: layer-major (segments between layers, the quantized model through its DPUCADF8H range),
    /// errors summed per channel in fixed row chunks.
    static let identity = StageKind(name: "finetune", version: 3)

    struct Settings: Codable, Sendable, Equatable {
        var plan: QuantizeStage.Settings
        var batchSize: Int
        var calibIter: Int
        var includeFastFt: Bool
        var fastFtEpochs: Int?
        var includeBiasCorr: Bool

        var options: FinetuneOptions {
            FinetuneOptions(fastFinetune: includeFastFt, biasCorrection: includeBiasCorr, epochs: fastFtEpochs ?? 0)
        }
    }

    static let graph = "finetuned_graph.pb"
    static let report = "finetune.json"

    let declaration: StageDeclaration<Settings>
    let outputNames = [Self.graph, Self.report]
    let maxThreads = 64
    let memoryMegabytes = 4096
    let progressUnit = "layer"

    init(job: QuantizeJob, optimize: OptimizeStage, calibrate: CalibrateStage) {
        let s = job.strategy
        let plan = QuantizeStage.Settings(strategy: s, target: job.target)
        let settings = Settings(plan: plan, batchSize: job.calibration.batchSize, calibIter: job.calibration.iterations,
                                includeFastFt: s.includeFastFt, fastFtEpochs: s.includeFastFt ? s.fastFtEpochs : nil,
                                includeBiasCorr: s.includeBiasCorr)
        var inputs: [String: StageInput] = ["graph": .output(optimize.id, OptimizeStage.optimizedGraph),
                                            "statistics": .output(calibrate.id, CalibrateStage.statistics)]
        for (node, source) in job.calibration.inputs { inputs[StageIO.dataPrefix + node] = source }
        // Cells that tune alike (targets with one activation range, say) share one finetune.
        let digest = ContentDigest(of: Array(ParameterValue.map(ParameterEncoder.encode(settings)).canonical.utf8))
        let id = StageID("finetune/\(job.model.name)/\(job.calibration.name)/\(calibrate.id.rawValue.split(separator: "/").last!)/\(digest.description.prefix(8))")
        declaration = StageDeclaration(id: id, settings: settings, inputs: inputs)
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let path = context.inputPaths["graph"]!
        let phases = context.phases
        let (graph, statistics, batches) = try phases.time("parse") {
            (try GraphDefIO.read(path), try StageIO.decode(CalibrationStatistics.self, context.inputPaths["statistics"]!),
             try StageIO.batches(context.inputPaths, batchSize: settings.batchSize, iterations: settings.calibIter))
        }
        let (plan, _, _) = try phases.time("quantize") {
            try QuantizeStage.positions(graph, statistics: statistics, settings: settings.plan, context: context)
        }
        let tuned = try phases.time("finetune") {
            try FastFinetuner.run(graph, plan: plan, batches: batches, narrowActivations: settings.plan.narrowActivations,
                                  options: settings.options, threads: context.threadBudget, path: "optimized graph of \(id)",
                                  progress: context.progress)
        }
        return try phases.time("write") {
            [Self.graph: try GraphDefIO.serialize(tuned.graph, path: path), Self.report: try StageIO.json(tuned.layers)]
        }
    }
}

/// The plan's fields sit in finetune's key as its own (`align_concat`, `method`, ...).
extension QuantizeStage.Settings: InlineParameters {}
