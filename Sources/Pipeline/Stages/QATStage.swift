import BuildCore
import PTQ
import TensorFlowIO

/// qat(optimized graph, quantize's positions, target): the quantize-aware training graphs at the
/// plan's positions -> `quantize_train_graph.pb` (FakeQuant, or TQT quantizers with
/// trainable thresholds under pof2s_tqt), `qat_inference_graph.pb` (the same variables, no
/// quantizers) and `quantize_eval_graph.pb` (variables with FixNeurons). Its own kind, so a change
/// to the training graphs reruns only them.
struct QATStage: TypedStage {
    /// 2: reads quantize's positions instead of searching them again (history: 1 its own kind).
    static let identity = StageKind(name: "qat", version: 2)

    struct Settings: Codable, Sendable, Equatable {
        /// The target's activation range (DPUCADF8H saturates at -127): the fake quantizers' range.
        var archType: DPUTarget.ArchType
    }

    static let trainGraph = "quantize_train_graph.pb"
    static let inferenceGraph = "qat_inference_graph.pb"
    static let evalGraph = "quantize_eval_graph.pb"

    let declaration: StageDeclaration<Settings>
    let outputNames = [Self.trainGraph, Self.inferenceGraph, Self.evalGraph]
    let maxThreads = 1

    init(job: QuantizeJob, optimize: OptimizeStage, finetune: FinetuneStage?, quantize: QuantizeStage) {
        declaration = StageDeclaration(id: StageID("qat/\(job.name)"), settings: Settings(archType: job.target.archType),
                                       inputs: ["graph": QuantizeStage.graphInput(optimize: optimize, finetune: finetune),
                                                "positions": .output(quantize.id, QuantizeStage.positions)])
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let path = context.inputPaths["graph"]!
        let phases = context.phases
        let (graph, positions) = try phases.time("parse") {
            (try GraphDefIO.read(path), try StageIO.decode(QuantizeStage.Positions.self, context.inputPaths["positions"]!))
        }
        let qat = phases.time("qat graphs") {
            PostTrainingQuantizer.trainingGraphs(graph, plan: positions.plan, narrowActivations: settings.archType == .dpucadf8h,
                                                 thresholds: positions.thresholds, ties: positions.ties)
        }
        try StageIO.store(Self.trainGraph, context, path: path) { qat.train }
        try StageIO.store(Self.inferenceGraph, context, path: path) { qat.inference }
        try StageIO.store(Self.evalGraph, context, path: path) { qat.eval }
        return [:]
    }
}
