import BuildCore
import PTQ
import TensorFlowIO

/// calibrate(optimized graph, calibration set): float inference over `calib_iter` batches of
/// `batch_size` rows -> per tensor and batch, statistics every bit width, method and target can
/// use. It reads no strategy field, so a matrix of bit widths and targets calibrates once.
struct CalibrateStage: TypedStage {
    /// 7: |x| histograms bounded at AbsHistogram.maxBins (history: 2 statistics on the located
    /// tensors, 3 |x| histograms).
    static let identity = StageKind(name: "calibrate", version: 7)

    struct Settings: Codable, Sendable, Equatable {
        var batchSize: Int
        var calibIter: Int
    }

    static let statistics = "statistics"

    let declaration: StageDeclaration<Settings>
    let outputNames = [Self.statistics]
    let maxThreads = 64

    init(optimize: OptimizeStage, model: QuantizeJob.Model, calibration: QuantizeJob.DataSet) {
        let id = StageID("calibrate/\(model.name)/\(calibration.name)/\(optimize.id.rawValue.split(separator: "/").last!)")
        let settings = Settings(batchSize: calibration.batchSize, calibIter: calibration.iterations)
        var inputs: [String: StageInput] = ["graph": .output(optimize.id, OptimizeStage.optimizedGraph)]
        for (node, file) in calibration.inputs { inputs[StageIO.dataPrefix + node] = .file(file) }
        declaration = StageDeclaration(id: id, settings: settings, inputs: inputs)
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let path = context.inputPaths["graph"]!
        let phases = context.phases
        let (graph, batches) = try phases.time("parse") {
            (try GraphDefIO.read(path), try StageIO.batches(context.inputPaths, batchSize: settings.batchSize, iterations: settings.calibIter))
        }
        let statistics = try PostTrainingQuantizer.calibrate(graph, outputNodes: StageIO.outputNodes(of: graph), batches: batches,
                                                             threads: context.threadBudget, path: "optimized graph of \(id)") {
            phases.add("inference", $0)
            phases.add("statistics", $1)
        }
        return try phases.time("write") { [Self.statistics: try StageIO.json(statistics)] }
    }
}
