import BuildCore
import PTQ

/// The one value that describes a quantize (built by `Pipeline` for a matrix cell and by
/// `QuantizeJob.oneShot` for the one-shot command): the model (graph, input/output nodes and shapes),
/// calibration data, the full typed strategy and the DPU target, an optional labeled set, and
/// where the outputs go. A build's matrix cell and the one-shot `vaiq-build quantize` both
/// describe their work as a `QuantizeJob` and run the stages it makes: one road, the same bytes.
public struct QuantizeJob: Sendable {
    public struct Model: Sendable, Equatable {
        /// Names the model's shared stages (`optimize/<name>/...`).
        public var name: String
        /// A frozen graph: a file, or the output of the model's freeze stage.
        public var graph: StageInput
        /// The freeze stage when the graph comes from a checkpoint (pof2s_tqt reads its thresholds).
        public var freezeStage: StageID? = nil
        public var inputNodes: [String]
        public var outputNodes: [String]
        /// -1 for unknown dimensions; empty when the graph's placeholders say enough.
        public var inputShapes: [[Int]]
        /// What errors about the graph name when it is a cache object (the freeze stage's output):
        /// the manifest's model, not the object's path.
        public var origin: String? = nil

        var range: ModelRange { ModelRange(inputNodes: inputNodes, outputNodes: outputNodes, inputShapes: inputShapes) }
    }

    /// Input arrays (per input node a `.npy` file, or a prepare stage's array) read in batches.
    public struct DataSet: Sendable, Equatable {
        public var name: String
        public var inputs: [String: StageInput]
        public var batchSize: Int
        /// At most this many batches (calibration's calib_iter).
        public var iterations: Int
    }

    public struct Evaluation: Sendable, Equatable {
        public var data: DataSet
        /// A `.npy` of class indices, one per row (a file, or a prepare stage's labels).
        public var labels: StageInput
        /// The output the labels score (nil: the first).
        public var output: String? = nil
    }

    /// vai_q's dump of the quantized model on the calibration inputs (power-of-two schemes).
    public struct Dump: Sendable, Equatable, Codable, InlineParameters {
        public var batchSize = 1
        public var maxDumpBatches = 1
        public var dumpFloat = false
        public var naming = Dumper.Options.Naming.code
    }

    /// Names the job's own stages (`quantize/<name>`): a build's cell name.
    public var name: String
    public var model: Model
    public var calibration: DataSet
    public var evaluation: Evaluation?
    public var dump: Dump?
    public var strategy: QuantizeStrategy
    public var target: DPUTarget
    /// Where the outputs are placed (`build/<cell>`, or the one-shot's `--output_dir`).
    public var outputFolder: String
    /// `_<suffix>` of checkpoint-built outputs (`OutputNames.suffix`).
    public var suffix: String?
    /// What a calibration keeps beyond min and max: min-diffs errors for some activation bit widths,
    /// and |x| histograms. Jobs sharing one calibration get the union of their needs.
    struct CalibrationNeeds: Sendable, Equatable {
        var bitWidths: Set<Int> = []
        /// Errors for the narrow activation range too (a DPUCADF8H target).
        var narrow = false
        var histograms = false

        mutating func formUnion(_ other: CalibrationNeeds) {
            bitWidths.formUnion(other.bitWidths)
            narrow = narrow || other.narrow
            histograms = histograms || other.histograms
        }
    }

    /// Set when jobs share one calibration (the union of their `ownCalibrationNeeds`); nil: its own.
    var calibrationNeeds: CalibrationNeeds? = nil

    /// The strategy's activation bit width and every per-node width (a name in nodes_bit may be
    /// an activation) under power-of-two positions, in the target's activation range(s);
    /// histograms for float scales' kl and percentile.
    var ownCalibrationNeeds: CalibrationNeeds {
        if strategy.scheme.isFloatScale { return CalibrationNeeds(histograms: strategy.calibMethod != .minmax) }
        let layerBits = strategy.layers.values.compactMap(\.activationBit)
        return CalibrationNeeds(bitWidths: Set([strategy.activationBit] + strategy.nodesBit.values + layerBits), narrow: target.narrowActivations)
    }


    /// The job's stages and where their outputs go. Built on each call: take it once per use.
    public struct Chain: Sendable {
        /// After freeze, in chain order: optimize, calibrate, (finetune,) quantize, then for the power-of-two
        /// schemes (DPUs) qat, deploy and (with a dump request) dump, and evaluate (with a labeled
        /// set). Optimize and calibrate are shared by every job whose model, data and graph
        /// settings agree (same ids, same keys), finetune by every job that tunes alike.
        public let stages: [any Stage]
        /// Where each stage output is placed: the vendor's file names under `outputFolder`.
        public let outputs: [Materialization]
        /// The chain's own stages (quantize and after), whose outputs the job materializes.
        public let ownStages: [StageID]

        /// The build target of the job named `name`.
        public func target(_ name: String) -> BuildTarget { BuildTarget(name: name, stages: ownStages, outputs: outputs) }
    }

    /// Its calibrate stage (shared with every job of the same model, data and graph settings).
    var calibrateStageID: StageID {
        CalibrateStage.id(optimize: OptimizeStage(model: model, strategy: strategy), model: model, calibration: calibration)
    }

    public var chain: Chain {
        let optimize = OptimizeStage(model: model, strategy: strategy)
        let calibrate = CalibrateStage(optimize: optimize, model: model, calibration: calibration,
                                       needs: calibrationNeeds ?? ownCalibrationNeeds)
        let finetune = strategy.finetunes ? FinetuneStage(job: self, optimize: optimize, calibrate: calibrate) : nil
        let quantize = QuantizeStage(job: self, optimize: optimize, calibrate: calibrate, finetune: finetune)
        var stages: [any Stage] = [optimize, calibrate] + (finetune.map { [$0] } ?? []) + [quantize]
        func place(_ stage: StageID, _ output: String, _ name: String) -> Materialization {
            Materialization(stage: stage, output: output, path: outputFolder.isEmpty ? name : "\(outputFolder)/\(name)")
        }
        var outputs = [
            place(quantize.id, QuantizeStage.evalModel, OutputNames.quantizeEvalModel(suffix: suffix)),
            place(quantize.id, QuantizeStage.stockModel, OutputNames.stockModel(suffix: suffix)),
            place(quantize.id, QuantizeStage.quantInfo, OutputNames.quantInfo),
        ]
        if let finetune { outputs.append(place(finetune.id, FinetuneStage.report, FinetuneStage.report)) }
        if !strategy.scheme.isFloatScale {
            let qat = QATStage(job: self, optimize: optimize, finetune: finetune, quantize: quantize)
            stages.append(qat)
            outputs += [place(qat.id, QATStage.trainGraph, QATStage.trainGraph),
                        place(qat.id, QATStage.inferenceGraph, QATStage.inferenceGraph),
                        place(qat.id, QATStage.evalGraph, OutputNames.evalGraph(suffix: suffix))]
            let deploy = DeployStage(job: self, quantize: quantize)
            stages.append(deploy)
            outputs.append(place(deploy.id, DeployStage.deployModel, OutputNames.deployModel(suffix: suffix)))
            if let dump {
                let stage = DumpStage(job: self, dump: dump, quantize: quantize)
                stages.append(stage)
                // Every output under dump/: the directory build/<cell>/dump/.
                outputs.append(place(stage.id, DumpStage.directory, String(DumpStage.directory.dropLast())))
            }
        }
        if let evaluation {
            let evaluate = EvaluateStage(job: self, evaluation: evaluation.data, labels: evaluation.labels, quantize: quantize, optimize: optimize)
            stages.append(evaluate)
            outputs.append(place(evaluate.id, EvaluateStage.metrics, OutputNames.metrics))
        }
        return Chain(stages: stages, outputs: outputs, ownStages: stages.dropFirst(finetune == nil ? 2 : 3).map(\.id))
    }
}
