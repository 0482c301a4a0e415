import BuildCore
import PTQ
import TensorFlowIO

/// optimize(model, strategy's graph settings): partition to input..output nodes, fold constants
/// and batch norms, CLE, DPU simulation rewrites -> `optimized_graph.pb`, and the graph around
/// the quantized range (`aux_graph.pb`: pre- and post-processing, kept in float).
struct OptimizeStage: TypedStage {
    static let kind = "optimize"
    /// 6: constant folding and constant adds merged into biases (history: 2 DPU simulation and
    /// CLE, 4 pre-/post-processing kept, 6 kept nodes drop control inputs on removed nodes).
    static let version = 6

    struct Settings: Codable, Sendable, Equatable {
        var inputNodes: [String]
        var outputNodes: [String]
        var inputShapes: [[Int]]
        var foldConstant: Bool
        var foldBN: Bool
        var doCLE: Bool
        /// Only with do_cle (nil otherwise: it changes nothing then).
        var replaceRelu6: Bool?
        var simulateDPU: Bool
        /// Only with simulate_dpu.
        var scaleAllAvgpool: Bool?
        var replaceSigmoid: Bool?

        init(model: QuantizeJob.Model, strategy s: QuantizeStrategy) {
            inputNodes = model.inputNodes
            outputNodes = model.outputNodes
            inputShapes = model.inputShapes
            foldConstant = s.foldConstant
            foldBN = s.foldBN
            doCLE = s.doCLE
            replaceRelu6 = s.doCLE ? s.replaceRelu6 : nil
            simulateDPU = s.simulateDPU
            scaleAllAvgpool = s.simulateDPU ? s.scaleAllAvgPool : nil
            replaceSigmoid = s.simulateDPU ? s.replaceSigmoid : nil
        }

        var options: OptimizeOptions {
            var o = OptimizeOptions(inputNodes: inputNodes, outputNodes: outputNodes, inputShapes: inputShapes)
            o.foldConstants = foldConstant
            o.foldBN = foldBN
            o.doCLE = doCLE
            o.replaceRelu6 = replaceRelu6 ?? true
            o.simulateDPU = simulateDPU
            o.scaleAllAvgPool = scaleAllAvgpool ?? true
            o.replaceSigmoid = replaceSigmoid ?? false
            return o
        }
    }

    static let optimizedGraph = "optimized_graph.pb"
    static let auxGraph = "aux_graph.pb"

    let declaration: StageDeclaration<Settings>
    let outputNames = [Self.optimizedGraph, Self.auxGraph]
    let maxThreads = 1

    init(model: QuantizeJob.Model, strategy: QuantizeStrategy) {
        let settings = Settings(model: model, strategy: strategy)
        // Strategies that optimize alike share one optimized graph and one float calibration.
        let digest = ContentDigest(of: Array(ParameterValue.map(ParameterEncoder.encode(settings)).canonical.utf8))
        let id = StageID("optimize/\(model.name)/\(digest.description.prefix(8))")
        declaration = StageDeclaration(id: id, settings: settings, inputs: ["graph": model.graph])
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let path = context.inputPaths["graph"]!
        let graph = try GraphDefIO.read(path)
        let options = settings.options
        let optimized = try Optimizer.optimize(graph, options, path: path)
        return [Self.optimizedGraph: try GraphDefIO.serialize(optimized, path: path),
                Self.auxGraph: try GraphDefIO.serialize(try Optimizer.auxiliary(graph, options, path: path), path: path)]
    }
}
