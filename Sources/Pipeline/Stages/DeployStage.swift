import BuildCore
import PTQ
import TensorFlowIO

/// deploy(quantized model): the quantized range only, in the legacy extended format the
/// Vitis AI compiler reads (spec 7.2) -> `deploy_model.pb`. Float-scale strategies have none.
struct DeployStage: TypedStage {
    /// 7: every node carries `_output_shapes` (history: 2 the deploy model).
    static let identity = StageKind(name: "deploy", version: 7)

    struct Settings: Encodable, Sendable, Equatable {
        var range: ModelRange
    }

    static let deployModel = "deploy_model.pb"

    let declaration: StageDeclaration<Settings>
    let outputNames = [Self.deployModel]
    let maxThreads = 1

    init(job: QuantizeJob, quantize: QuantizeStage) {
        let id = StageID("deploy/\(job.name)")
        let settings = Settings(range: job.model.range)
        declaration = StageDeclaration(id: id, settings: settings, inputs: ["model": .output(quantize.id, QuantizeStage.evalModel)])
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let path = context.inputPaths["model"]!
        let label = "\(id)"
        // The quantized range only (the reference's deploy strips pre- and post-processing).
        let graph = try context.phases.time("parse") { try GraphDefIO.read(path) }
        let deployed = try context.phases.time("deploy") {
            try Deployer.deployModel(try Optimizer.cut(graph, inputs: settings.range.inputNodes, outputs: settings.range.outputNodes,
                                                       inputShapes: settings.range.inputShapes, path: label), path: label)
        }
        return try context.phases.time("write") { [Self.deployModel: try GraphDefIO.serialize(deployed, path: label)] }
    }
}
