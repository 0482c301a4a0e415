import BuildCore
import FileIO
import Manifest
import PTQ
import TFProto
import Quantizer
import TensorFlowIO

/// quantize(optimized graph, statistics, strategy, target) -> `quantize_eval_model.pb`, its
/// stock-TensorFlow twin and `quant_info.json`; for the power-of-two schemes also `positions.json`
/// (the plan with pof2s_tqt's initial thresholds and ties), from which `QATStage` writes the
/// quantize-aware training graphs without searching the positions again.
struct QuantizeStage: TypedStage {
    /// 8: the swish pattern (history: 3 float-scale strategies, 5 pof2s_tqt trained thresholds,
    /// 6 kept nodes drop control inputs on removed nodes, 7 positions.json for the qat stage).
    static let identity = StageKind(name: "quantize", version: 8)

    /// What a quantize reads. Fields of the other family of schemes are nil, so they are not
    /// hashed: a float-scale cell's key never sees `align_concat`, a power-of-two one `calib_method`.
    struct Settings: Codable, Sendable, Equatable {
        var quantizeScheme: QuantizeScheme
        var weightBit: Int
        var activationBit: Int
        var ignoreNodes: [String]
        // Power-of-two schemes.
        var method: Int?
        var nodesBit: [String: Int]?
        var nodesMethod: [String: Int]?
        var alignConcat: Int?
        var alignPool: Int?
        var alignRule: AlignRule?
        var adjustShiftBias: Int?
        var adjustShiftCut: Int?
        var keepFloatWeight: Bool?
        var archType: String?
        // Float-scale schemes.
        var perChannel: Bool?
        var calibMethod: CalibrationMethod?
        var calibPercentile: Double?
        /// Present (false) only for asymmetric activation ranges, so symmetric strategies keep their keys.
        var activationSymmetry: Bool?
        /// Present only when not 0 (vai_q's), so strategies with the vendor's inputs keep their keys.
        var inputMethod: Int?
        /// Present only when set (not the weights' bit width), as are `layers` when not empty.
        var biasBit: Int?
        var layers: [String: LayerQuantizers]?
        /// The per-object blocks, each present only when it changes something.
        var weight: ObjectQuantizer?
        var bias: ObjectQuantizer?
        var activation: ObjectQuantizer?

        init(strategy s: QuantizeStrategy, target: DPUTarget) {
            let blocks = s.normalizedQuantizers
            weight = blocks.weight.isEmpty ? nil : blocks.weight
            bias = blocks.bias.isEmpty ? nil : blocks.bias
            activation = blocks.activation.isEmpty ? nil : blocks.activation
            quantizeScheme = s.scheme
            weightBit = s.weightBit
            activationBit = s.activationBit
            ignoreNodes = s.ignoreNodes + s.ignoreLayers.filter { !s.ignoreNodes.contains($0) }
            if s.scheme.isFloatScale {
                perChannel = s.perChannel
                calibMethod = s.calibMethod
                calibPercentile = s.calibMethod == .percentile ? s.calibPercentile : nil
                activationSymmetry = s.activationSymmetry ? nil : false
            } else {
                method = s.method.rawValue
                inputMethod = s.inputMethod == .nonOverflow ? nil : s.inputMethod.rawValue
                nodesBit = s.nodesBit
                nodesMethod = s.nodesMethod
                biasBit = s.biasBit == 0 ? nil : s.biasBit
                layers = s.layers.isEmpty ? nil : s.layers
                alignConcat = s.alignConcat
                alignPool = s.alignPool
                alignRule = s.alignRule
                adjustShiftBias = s.adjustShiftBias
                adjustShiftCut = s.adjustShiftCut
                keepFloatWeight = s.keepFloatWeight
                archType = target.archType.rawValue
            }
        }

        /// The strategy as the passes take it (fields of the other family at their defaults).
        var strategy: QuantizeStrategy {
            var s = QuantizeStrategy()
            s.scheme = quantizeScheme
            s.weightBit = weightBit
            s.activationBit = activationBit
            s.ignoreNodes = ignoreNodes
            if let method, let m = PositionMethod(rawValue: method) { s.method = m }
            if let inputMethod, let m = PositionMethod(rawValue: inputMethod) { s.inputMethod = m }
            s.nodesBit = nodesBit ?? [:]
            s.nodesMethod = nodesMethod ?? [:]
            s.biasBit = biasBit ?? 0
            s.layers = layers ?? [:]
            s.alignConcat = alignConcat ?? s.alignConcat
            s.alignPool = alignPool ?? s.alignPool
            s.alignRule = alignRule ?? s.alignRule
            s.adjustShiftBias = adjustShiftBias ?? s.adjustShiftBias
            s.adjustShiftCut = adjustShiftCut ?? s.adjustShiftCut
            s.keepFloatWeight = keepFloatWeight ?? s.keepFloatWeight
            s.perChannel = perChannel ?? s.perChannel
            s.calibMethod = calibMethod ?? s.calibMethod
            s.calibPercentile = calibPercentile ?? s.calibPercentile
            s.activationSymmetry = activationSymmetry ?? s.activationSymmetry
            s.weightQuantizer = weight ?? ObjectQuantizer()
            s.biasQuantizer = bias ?? ObjectQuantizer()
            s.activationQuantizer = activation ?? ObjectQuantizer()
            return s
        }
        var narrowActivations: Bool { archType == DPUTarget.ArchType.dpucadf8h.rawValue }
    }

    static let evalModel = "quantize_eval_model.pb"
    static let stockModel = "quantize_eval_model_tf.pb"
    static let quantInfo = OutputNames.quantInfo
    static let positions = "positions.json"

    /// What the training graphs need of a power-of-two quantize: its final plan, and under
    /// pof2s_tqt the initial log2 thresholds and which quantizers share one.
    struct Positions: Codable, Sendable {
        var plan: QuantizePlan
        var thresholds: [String: Float]?
        var ties: [String: String]
    }
    let declaration: StageDeclaration<Settings>
    let outputNames: [String]
    let maxThreads = 1

    /// The inputs a power-of-two plan reads: the optimized graph, the statistics and, for
    /// pof2s_tqt models built from a checkpoint, its trained thresholds.
    /// With fast finetuning or bias correction, the graph is finetune's (`finetune`), else optimize's.
    static func planInputs(job: QuantizeJob, optimize: OptimizeStage, calibrate: CalibrateStage,
                           finetune: FinetuneStage?) -> [String: StageInput] {
        var inputs: [String: StageInput] = ["graph": graphInput(optimize: optimize, finetune: finetune),
                                            "statistics": .output(calibrate.id, CalibrateStage.statistics)]
        // pof2s_tqt takes positions from the thresholds a quantize-aware training run saved.
        if let freeze = job.model.freezeStage, job.strategy.scheme == .pof2sTQT {
            inputs["thresholds"] = .output(freeze, FreezeStage.thresholdsOutput)
        }
        return inputs
    }

    /// The final power-of-two positions (calibrated, from trained thresholds under pof2s_tqt, then
    /// the position rules), and for pof2s_tqt the initial thresholds of a training graph and which
    /// quantizers share one. The quantize and qat stages both compute it from the same inputs.
    static func positions(_ graph: Tensorflow_GraphDef, statistics: CalibrationStatistics, settings: Settings,
                          context: StageContext) throws -> (plan: QuantizePlan, thresholds: [String: Float]?, ties: [String: String]) {
        let narrow = settings.narrowActivations
        let strategy = settings.strategy
        try checkNodeNames(graph, strategy: strategy, stage: "\(context.stage)")
        let config = strategy.quantizeConfig
        let path = context.inputPaths["graph"]!
        let outputs = StageIO.outputNodes(of: graph)
        var positioned = try PostTrainingQuantizer.positions(Locator.locate(graph, config), graph: graph, statistics: statistics,
                                                             narrowActivations: narrow, path: path)
        var thresholds: [String: Float]?
        var ties: [String: String] = [:]
        if strategy.scheme == .pof2sTQT {
            // The align rules' structure (which tensors must share a position) from a first pass.
            let calibrated = PostTrainingQuantizer.adjust(positioned, graph: graph, config: config, outputNodes: outputs)
            ties = TrainedThresholds.ties(calibrated)
            let initial = TrainedThresholds.initial(calibrated, graph: graph, statistics: statistics, narrowActivations: narrow)
            let trained = try context.inputPaths["thresholds"].map { try TrainedThresholds.decode(try FileIO.read($0), path: $0) } ?? [:]
            positioned = try TrainedThresholds.apply(trained, to: positioned, ties: ties, path: "\(context.stage)")
            // Training again continues from the trained thresholds.
            thresholds = initial.merging(trained) { _, t in t }
        }
        return (PostTrainingQuantizer.adjust(positioned, graph: graph, config: config, outputNodes: outputs), thresholds, ties)
    }

    /// Every node `nodes_bit`, `nodes_method` and `ignore_nodes` name is a node of the optimized
    /// graph: a name that is not (misspelled, or folded away by optimize) would change nothing.
    static func checkNodeNames(_ graph: Tensorflow_GraphDef, strategy: QuantizeStrategy, stage: String) throws(StageFailure) {
        let named = [("nodes_bit", strategy.nodesBit.keys.sorted()), ("nodes_method", strategy.nodesMethod.keys.sorted()),
                     ("ignore_nodes", strategy.ignoreNodes)]
        guard named.contains(where: { !$0.1.isEmpty }) else { return }
        let names = graph.node.map(\.name)
        let known = Set(names)
        for (field, list) in named {
            for name in list where !known.contains(name) {
                var message = "\(stage): \(field) names '\(name)', not a node of the optimized graph (misspelled, or folded away by optimize)"
                if let guess = closest(name, among: names) { message += "; did you mean '\(guess)'?" }
                throw StageFailure(message)
            }
        }
    }

    /// The float graph a quantize (and qat) reads: finetune's tuned graph, or optimize's.
    static func graphInput(optimize: OptimizeStage, finetune: FinetuneStage?) -> StageInput {
        finetune.map { .output($0.id, FinetuneStage.graph) } ?? .output(optimize.id, OptimizeStage.optimizedGraph)
    }

    init(job: QuantizeJob, optimize: OptimizeStage, calibrate: CalibrateStage, finetune: FinetuneStage?) {
        let id = StageID("quantize/\(job.name)")
        let settings = Settings(strategy: job.strategy, target: job.target)
        var inputs = Self.planInputs(job: job, optimize: optimize, calibrate: calibrate, finetune: finetune)
        inputs["aux"] = .output(optimize.id, OptimizeStage.auxGraph)
        declaration = StageDeclaration(id: id, settings: settings, inputs: inputs)
        outputNames = job.strategy.scheme.isFloatScale ? [Self.evalModel, Self.stockModel, Self.quantInfo]
            : [Self.evalModel, Self.stockModel, Self.quantInfo, Self.positions]
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let path = context.inputPaths["graph"]!
        let phases = context.phases
        let (graph, statistics, aux) = try phases.time("parse") {
            (try GraphDefIO.read(path), try StageIO.decode(CalibrationStatistics.self, context.inputPaths["statistics"]!),
             try StageIO.fragment(context.inputPaths["aux"]!))
        }
        let strategy = settings.strategy
        let whole = PostTrainingQuantizer.merge(graph, aux: aux)
        if strategy.scheme.isFloatScale {
            try Self.checkNodeNames(graph, strategy: strategy, stage: "\(context.stage)")
            let calibration: FloatScaleQuantizer.Calibration = switch strategy.calibMethod {
            case .minmax: .minmax
            case .kl: .kl
            case .percentile: .percentile(strategy.calibPercentile)
            }
            let plan = try phases.time("quantize") {
                try FloatScaleQuantizer.plan(graph, config: strategy.quantizeConfig, activations: strategy.scheme == .fsx,
                                             perChannel: strategy.perChannel, calibration: calibration,
                                             symmetric: strategy.activationSymmetry, statistics: statistics, path: "\(id)",
                                             objects: .init(pof2Weights: strategy.weightScheme == .pof2s ? (strategy.weightQuantizer.method ?? .minDiffs) : nil,
                                                            narrowWeights: strategy.weightQuantizer.narrowRange ?? false,
                                                            narrowActivations: strategy.activationQuantizer.narrowRange ?? false))
            }
            return try phases.time("write") {
                let model = try GraphDefIO.serialize(FloatScaleQuantizer.model(whole, plan: plan), path: path)
                return [Self.evalModel: model, Self.stockModel: model, Self.quantInfo: try StageIO.json(plan)]
            }
        }
        let narrow = settings.narrowActivations
        let (plan, thresholds, ties) = try phases.time("quantize") {
            try Self.positions(graph, statistics: statistics, settings: settings, context: context)
        }
        try StageIO.store(Self.evalModel, context, path: path) {
            PostTrainingQuantizer.evalModel(whole, plan: plan, keepFloatWeight: strategy.keepFloatWeight, narrowActivations: narrow)
        }
        try StageIO.store(Self.stockModel, context, path: path) { PostTrainingQuantizer.stockModel(whole, plan: plan, narrowActivations: narrow) }
        return try phases.time("write") {
            [Self.quantInfo: try StageIO.json(plan), Self.positions: try StageIO.json(Positions(plan: plan, thresholds: thresholds, ties: ties))]
        }
    }
}
