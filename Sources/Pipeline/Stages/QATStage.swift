import BuildCore
import PTQ
import TensorFlowIO

/// qat(optimized graph, statistics, power-of-two strategy, target): the quantize-aware training
/// graphs at the plan's positions -> `quantize_train_graph.pb` (FakeQuant, or TQT quantizers with
/// trainable thresholds under pof2s_tqt), `qat_inference_graph.pb` (the same variables, no
/// quantizers) and `quantize_eval_graph.pb` (variables with FixNeurons). Its own kind, so a change
/// to the training graphs reruns only them.
struct QATStage: TypedStage {
    /// 1 (these outputs came from the quantize stage through its version 6).
    static let identity = StageKind(name: "qat", version: 1)
    typealias Settings = QuantizeStage.Settings

    static let trainGraph = "quantize_train_graph.pb"
    static let inferenceGraph = "qat_inference_graph.pb"
    static let evalGraph = "quantize_eval_graph.pb"

    let declaration: StageDeclaration<Settings>
    let outputNames = [Self.trainGraph, Self.inferenceGraph, Self.evalGraph]
    let maxThreads = 1

    init(job: QuantizeJob, optimize: OptimizeStage, calibrate: CalibrateStage) {
        var settings = QuantizeStage.Settings(strategy: job.strategy, target: job.target)
        // Only quantize_eval_model.pb stores weights on their grid; training starts from float weights.
        settings.keepFloatWeight = nil
        declaration = StageDeclaration(id: StageID("qat/\(job.name)"), settings: settings,
                                       inputs: QuantizeStage.planInputs(job: job, optimize: optimize, calibrate: calibrate))
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let path = context.inputPaths["graph"]!
        let phases = context.phases
        let (graph, statistics) = try phases.time("parse") {
            (try GraphDefIO.read(path), try StageIO.decode(CalibrationStatistics.self, context.inputPaths["statistics"]!))
        }
        let qat = try phases.time("qat graphs") {
            let (plan, thresholds, ties) = try QuantizeStage.positions(graph, statistics: statistics, settings: settings, context: context)
            return PostTrainingQuantizer.trainingGraphs(graph, plan: plan, narrowActivations: settings.narrowActivations,
                                                        thresholds: thresholds, ties: ties)
        }
        return try phases.time("write") {
            [Self.trainGraph: try GraphDefIO.serialize(qat.train, path: path),
             Self.inferenceGraph: try GraphDefIO.serialize(qat.inference, path: path),
             Self.evalGraph: try GraphDefIO.serialize(qat.eval, path: path)]
        }
    }
}
