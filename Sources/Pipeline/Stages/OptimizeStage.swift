import BuildCore
import PTQ
import TFProto
import TensorFlowIO

/// optimize(model, strategy's graph settings): partition to input..output nodes, fold constants
/// and batch norms, CLE, DPU simulation rewrites -> `optimized_graph.pb`, and the graph around
/// the quantized range (`aux_graph.pb`: pre- and post-processing, kept in float).
struct OptimizeStage: TypedStage {
    /// 6: constant folding and constant adds merged into biases (history: 2 DPU simulation and
    /// CLE, 4 pre-/post-processing kept, 6 kept nodes drop control inputs on removed nodes, 7
    /// dropout removed).
    static let identity = StageKind(name: "optimize", version: 7)

    struct Settings: Encodable, Sendable, Equatable {
        var range: ModelRange
        /// The rewrites that can act (one that cannot stays at its default, so it is not in the key).
        var rewrites: GraphRewrites
        /// The strategy's quantized part, when it is not the whole range (`input_layers`, `output_layers`).
        var part: QuantizedPart?

        var options: OptimizeOptions {
            var o = OptimizeOptions(inputNodes: range.inputNodes, outputNodes: range.outputNodes, inputShapes: range.inputShapes)
            o.rewrites = rewrites
            return o
        }
    }

    static let optimizedGraph = "optimized_graph.pb"
    static let auxGraph = "aux_graph.pb"

    let declaration: StageDeclaration<Settings>
    let outputNames = [Self.optimizedGraph, Self.auxGraph]
    let maxThreads = 1
    /// How errors name the graph (not part of the key).
    let origin: String?

    init(model: QuantizeJob.Model, strategy: QuantizeStrategy) {
        let settings = Settings(range: model.range, rewrites: strategy.rewrites.effective,
                                part: strategy.part.isWhole ? nil : strategy.part)
        // Strategies that optimize alike share one optimized graph and one float calibration.
        let digest = ContentDigest(of: Array(ParameterValue.map(ParameterEncoder.encode(settings)).canonical.utf8))
        let id = StageID("optimize/\(model.name)/\(digest.description.prefix(8))")
        declaration = StageDeclaration(id: id, settings: settings, inputs: ["graph": model.graph])
        origin = model.origin
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let file = context.inputPaths["graph"]!
        let path = origin ?? file
        let phases = context.phases
        var graph: Tensorflow_GraphDef? = try phases.time("parse") { try GraphDefIO.read(file) }
        let options = settings.options
        let (optimized, aux) = try phases.time("optimize") {
            let aux = try Optimizer.auxiliary(graph!, options, path: path)
            // The parsed graph goes to optimize, which lets go of it once it has taken the range it keeps.
            if let part = settings.part { return (try Optimizer.optimize(graph.take()!, options, part: part, path: path), aux) }
            return (try Optimizer.optimize(graph.take()!, options, path: path), aux)
        }
        return try phases.time("write") {
            [Self.optimizedGraph: try GraphDefIO.serialize(optimized, path: path), Self.auxGraph: try GraphDefIO.serialize(aux, path: path)]
        }
    }
}
