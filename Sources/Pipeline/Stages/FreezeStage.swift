import BuildCore
import FileIO
import PTQ
import TFProto
import TensorFlowIO

/// freeze(model): inference graph + checkpoint -> frozen GraphDef.
///
/// Reads: the graph file, the checkpoint's `.index` and data shards (resolved from the training
/// directory's state file when the plan is made, so a new checkpoint changes the inputs), and the
/// output node names. Nothing about strategies or targets reaches it. Besides the frozen graph it
/// writes the checkpoint's trained quantization thresholds (`<FixNeuron>/log_th` variables of a
/// pof2s_tqt training graph; `{}` for an ordinary checkpoint), which pof2s_tqt quantize stages read.
struct FreezeStage: TypedStage {
    /// 2: trained thresholds output.
    static let identity = StageKind(name: "freeze", version: 2)

    struct Settings: Codable, Sendable, Equatable {
        var outputNodes: [String]
        /// The graph's format decides how it is parsed, so it is part of what the stage reads.
        var graphFormat: String
    }

    static let frozenGraph = "frozen_graph.pb"
    static let thresholdsOutput = "trained_thresholds.json"

    let declaration: StageDeclaration<Settings>
    let outputNames = [Self.frozenGraph, Self.thresholdsOutput]
    let maxThreads = 1
    /// For error messages only (the graph is read through its input path).
    let graphPath: String

    init(model: String, graph: String, checkpoint: CheckpointLocation, shards: [String], outputNodes: [String], root: String) {
        let id = StageID("freeze/\(model)")
        self.graphPath = graph
        let settings = Settings(outputNodes: outputNodes, graphFormat: GraphDefIO.isTextFormat(graph) ? "text" : "binary")
        var inputs: [String: StageInput] = ["graph": .file(graph),
                                            "checkpoint.index": .file(Self.relative(checkpoint.prefix + ".index", root))]
        for (i, shard) in shards.enumerated() { inputs["checkpoint.data-\(i)"] = .file(Self.relative(shard, root)) }
        declaration = StageDeclaration(id: id, settings: settings, inputs: inputs)
    }

    static func relative(_ path: String, _ root: String) -> String {
        root != "." && path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let graphFile = context.inputPaths["graph"]!
        let graph = try GraphDefIO.read(graphFile)
        let index = context.inputPaths["checkpoint.index"]!
        let reader = try CheckpointReader(prefix: String(index.dropLast(".index".count)))
        let result = try GraphFreezer.freeze(graph, checkpoint: reader, outputNodes: settings.outputNodes, graphPath: graphPath)
        return [Self.frozenGraph: try GraphDefIO.serialize(result.graph, path: graphPath),
                Self.thresholdsOutput: try TrainedThresholds.encode(try TrainedThresholds.read(reader))]
    }
}
