import BuildCore
import PTQ
import TensorFlowIO

/// calibrate(optimized graph, calibration set, bit widths): float inference over `calib_iter`
/// batches of `batch_size` rows -> per tensor and batch, statistics every method and target can
/// use for the activation bit widths of all the cells that share it (their union: a matrix of
/// bit widths and targets calibrates once; adding a bit width reruns it).
struct CalibrateStage: TypedStage {
    /// 12: swish's product and sigmoid are located tensors (history: 11 error lists as base64
    /// float64; 10 narrow-range errors only when a DPUCADF8H cell
    /// shares the calibration; 9 the one-pass
    /// error kernel; 8 errors for the bit widths asked only, histograms only when asked; 2 statistics on the located tensors,
    /// 3 |x| histograms, 7 histograms bounded at AbsHistogram.maxBins).
    static let identity = StageKind(name: "calibrate", version: 12)

    struct Settings: Codable, Sendable, Equatable {
        var batchSize: Int
        var calibIter: Int
        /// Activation bit widths whose min-diffs errors are kept (none for float scales).
        var bitWidths: [Int]
        /// Whether they are kept for the narrow activation range too (a DPUCADF8H cell shares the calibration).
        var narrowErrors: Bool
        /// Whether |x| histograms are kept (float-scale strategies with calib_method kl or percentile).
        var histograms: Bool
    }

    static let statistics = "statistics"

    let declaration: StageDeclaration<Settings>
    let outputNames = [Self.statistics]
    let maxThreads = 64
    let memoryMegabytes = 4096

    /// `calibrate/<model>/<calibration>/<opt>`: one per model, calibration set and optimize settings.
    static func id(optimize: OptimizeStage, model: QuantizeJob.Model, calibration: QuantizeJob.DataSet) -> StageID {
        StageID("calibrate/\(model.name)/\(calibration.name)/\(optimize.id.rawValue.split(separator: "/").last!)")
    }

    init(optimize: OptimizeStage, model: QuantizeJob.Model, calibration: QuantizeJob.DataSet, needs: QuantizeJob.CalibrationNeeds) {
        let id = Self.id(optimize: optimize, model: model, calibration: calibration)
        let settings = Settings(batchSize: calibration.batchSize, calibIter: calibration.iterations, bitWidths: needs.bitWidths.sorted(),
                                narrowErrors: needs.narrow, histograms: needs.histograms)
        var inputs: [String: StageInput] = ["graph": .output(optimize.id, OptimizeStage.optimizedGraph)]
        for (node, source) in calibration.inputs { inputs[StageIO.dataPrefix + node] = source }
        declaration = StageDeclaration(id: id, settings: settings, inputs: inputs)
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let path = context.inputPaths["graph"]!
        let phases = context.phases
        let (graph, batches) = try phases.time("parse") {
            (try GraphDefIO.read(path), try StageIO.batches(context.inputPaths, batchSize: settings.batchSize, iterations: settings.calibIter))
        }
        let outputs = StageIO.outputNodes(of: graph)
        let statistics = try PostTrainingQuantizer.calibrate(consume graph, outputNodes: outputs, batches: batches,
                                                             bitWidths: settings.bitWidths, narrowErrors: settings.narrowErrors,
                                                             histograms: settings.histograms,
                                                             threads: context.threadBudget,
                                                             path: "optimized graph of \(id)", timing: {
            phases.add("inference", $0)
            phases.add("statistics", $1)
        }, progress: context.progress)
        return try phases.time("write") { [Self.statistics: try StageIO.json(statistics)] }
    }
}
