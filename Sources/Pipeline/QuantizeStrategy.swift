import BuildCore
import Manifest
import PTQ
import Quantizer

/// How a strategy quantizes: power-of-two positions for DPUs (`pof2s`, and `pof2s_tqt` whose
/// positions come from trained thresholds), or float scales for CPUs/GPUs (`fs`: weights and the
/// inputs of conv-like layers; `fsx`: every activation too).
public enum QuantizeScheme: String, Codable, Sendable, CaseIterable {
    case pof2s
    case pof2sTQT = "pof2s_tqt"
    case fs
    case fsx

    public var isFloatScale: Bool { self == .fs || self == .fsx }
}

/// How one object (a weight, bias or activation tensor) is scaled: by a power of two, or by a float.
public enum ObjectScheme: String, Codable, Sendable, CaseIterable {
    case pof2s, fs
}

/// A strategy's `weight:`, `bias:` or `activation:` block beyond its bit width (which the
/// shorthands `weight_bit`, `bias_bit`, `activation_bit` hold): nil fields keep the strategy's.
public struct ObjectQuantizer: Sendable, Equatable, Codable {
    public var scheme: ObjectScheme?
    public var method: PositionMethod?
    /// The vendor's RoundMode: 0 half to even, 1 half up, 2 half away from zero, 3 floor.
    public var roundMode: Int?
    public var narrowRange: Bool?
    /// Only where no flat field spells them (weight and bias `symmetric`, bias and activation
    /// `per_channel`): each acts at its one built value.
    public var symmetric: Bool?
    public var perChannel: Bool?
    /// A bias block's `scheme: float` (float-scale strategies leave biases unquantized).
    public var float = false

    public init(scheme: ObjectScheme? = nil, method: PositionMethod? = nil, roundMode: Int? = nil, narrowRange: Bool? = nil) {
        self.scheme = scheme
        self.method = method
        self.roundMode = roundMode
        self.narrowRange = narrowRange
    }

    public var isEmpty: Bool { self == ObjectQuantizer() }
}

/// How float-scale strategies choose activation ranges.
public enum CalibrationMethod: String, Codable, Sendable, CaseIterable {
    case minmax, percentile, kl
}

/// A quantize strategy with every field typed: what a manifest's `strategies:` entry (after
/// `extends:`) or the one-shot command's flags resolve to. The defaults are vai_q_tensorflow's,
/// which the built-in `pof2s` lists field by field (a test keeps the two equal).
public struct QuantizeStrategy: Sendable, Equatable {
    public var scheme = QuantizeScheme.pof2s
    public var weightBit = 8
    public var activationBit = 8
    /// 0: the weights' bit width (vai_q_tensorflow's rule).
    public var biasBit = 0
    /// The per-object blocks (their bit widths are `weightBit`, `biasBit`, `activationBit`).
    public var weightQuantizer = ObjectQuantizer()
    public var biasQuantizer = ObjectQuantizer()
    public var activationQuantizer = ObjectQuantizer()
    /// Per TF op type: bit widths and methods of its weights, biases and activations.
    public var layers: [String: LayerQuantizers] = [:]
    /// 0 non-overflow, 1 min-diffs, 2 min-diffs with the depthwise strategy.
    public var method = PositionMethod.minDiffs
    /// The graph inputs' method: 0 (non-overflow) as vai_q_tensorflow and vai_q_tensorflow2 always use.
    public var inputMethod = PositionMethod.nonOverflow
    public var nodesBit: [String: Int] = [:]
    public var nodesMethod: [String: Int] = [:]
    public var ignoreNodes: [String] = []
    /// The vendor's names: `ignore_layers` joins `ignore_nodes`; `input_layers` / `output_layers`
    /// bound the quantized part (`QuantizedPart`).
    public var ignoreLayers: [String] = []
    public var inputLayers: [String] = []
    public var outputLayers: [String] = []

    public var part: QuantizedPart { QuantizedPart(inputLayers: inputLayers, outputLayers: outputLayers) }
    public var alignConcat = 0
    public var alignPool = 0
    public var alignRule = AlignRule.tf1
    public var adjustShiftBias = 1
    public var adjustShiftCut = 1
    /// simulate_dpu, scale_all_avgpool, fold_constant, fold_bn, do_cle, replace_relu6, replace_sigmoid.
    public var rewrites = GraphRewrites()
    public var replaceSoftmax = false
    public var keepFloatWeight = true
    public var perChannel = false
    public var calibMethod = CalibrationMethod.minmax
    public var calibPercentile = 99.9999
    /// Float scales: activation ranges symmetric about zero ([-amax, amax]), or the observed
    /// [min, max] (a zero point, as TensorFlow's fake quantization nudges it).
    public var activationSymmetry = true
    /// Layer-wise fast finetuning (AdaQuant) and bias correction before the final positions.
    public var includeFastFt = false
    public var fastFtEpochs = 10
    public var includeBiasCorr = false

    /// Whether a finetune stage runs (pof2s only; other schemes refuse the keys).
    public var finetunes: Bool { scheme == .pof2s && (includeFastFt || includeBiasCorr) }

    public init() {}

    /// The weights' scheme: the block's, else the family's (power-of-two for pof2s and pof2s_tqt).
    public var weightScheme: ObjectScheme { weightQuantizer.scheme ?? (scheme.isFloatScale ? .fs : .pof2s) }

    /// The blocks with every value that does what the family does anyway dropped, so a strategy
    /// that spells its defaults out quantizes under the same stage key as one that does not.
    public var normalizedQuantizers: (weight: ObjectQuantizer, bias: ObjectQuantizer, activation: ObjectQuantizer) {
        let fs = scheme.isFloatScale
        func normalized(_ q: ObjectQuantizer, _ object: String) -> ObjectQuantizer {
            var q = q
            if q.symmetric == true { q.symmetric = nil }
            if q.perChannel == false { q.perChannel = nil }
            if q.narrowRange == false { q.narrowRange = nil }
            if q.roundMode == ObjectBlock.builtRoundMode(object, floatScale: fs) { q.roundMode = nil }
            if fs {
                if object == "weight" && q.scheme == .fs { q.scheme = nil }
                if object == "activation" && q.scheme == .fs { q.scheme = nil }
                if object == "bias" { q.float = false }
                if object == "weight" && q.scheme == .pof2s && q.method == .minDiffs { q.method = nil }
            } else {
                if q.scheme == .pof2s { q.scheme = nil }
                if q.method == method { q.method = nil }
            }
            return q
        }
        return (normalized(weightQuantizer, "weight"), normalized(biasQuantizer, "bias"), normalized(activationQuantizer, "activation"))
    }

    /// Every key of a `weight:` / `bias:` / `activation:` block with the value it takes here (the
    /// shorthands' values included): what `show --full` prints.
    public func resolvedBlock(_ object: String) -> [String: ParameterValue] {
        let fs = scheme.isFloatScale
        if fs && object == "bias" { return ["scheme": .string("float")] }
        let q = object == "weight" ? weightQuantizer : object == "bias" ? biasQuantizer : activationQuantizer
        let objectScheme = object == "weight" ? weightScheme : fs ? ObjectScheme.fs : .pof2s
        var b: [String: ParameterValue] = ["scheme": .string(objectScheme.rawValue)]
        switch object {
        case "weight": b["bit_width"] = .int(weightBit)
        case "bias": b["bit_width"] = .int(biasBit)
        default: b["bit_width"] = .int(activationBit)
        }
        if objectScheme == .pof2s {
            b["method"] = .int((q.method ?? (fs ? .minDiffs : method)).rawValue)
        }
        b["round_mode"] = .int(q.roundMode ?? ObjectBlock.builtRoundMode(object, floatScale: fs))
        b["symmetric"] = .bool(object == "activation" ? activationSymmetry : true)
        b["per_channel"] = .bool(object == "weight" ? perChannel : false)
        b["narrow_range"] = .bool(q.narrowRange ?? false)
        return b
    }

    /// The position search and rules of the power-of-two schemes.
    public var quantizeConfig: QuantizeConfig {
        var c = QuantizeConfig()
        c.weightBit = weightBit
        c.activationBit = activationBit
        c.method = method
        c.inputMethod = inputMethod == .minDiffsDepthwise ? .minDiffs : inputMethod
        c.nodesBit = nodesBit
        c.nodesMethod = nodesMethod
        c.ignoreNodes = Set(ignoreNodes + ignoreLayers)
        c.alignConcat = alignConcat
        c.alignPool = alignPool
        c.alignRule = alignRule
        c.adjustShiftCut = adjustShiftCut != 0
        c.adjustShiftBias = adjustShiftBias
        c.biasBit = biasBit == 0 ? nil : biasBit
        c.layers = layers
        c.weightMethod = weightQuantizer.method
        c.biasMethod = biasQuantizer.method
        c.activationMethod = activationQuantizer.method
        return c
    }
}

/// A DPU target with every field typed.
public struct DPUTarget: Sendable, Equatable {
    public enum ArchType: String, Codable, Sendable, CaseIterable {
        case `default` = "DEFAULT"
        /// Alveo U200/U250: activations saturate at [-127, 127].
        case dpucadf8h = "DPUCADF8H"
    }

    public var name: String
    public var archType = ArchType.default
    /// The DPU operations the target runs (the op table's DPU names).
    public var supportedOps: [String] = []
    public var description = ""
    /// Per object (`weight`, `bias`, `activation`): the schemes and bit widths the target runs.
    public var accepts: [String: Acceptance] = [:]

    public struct Acceptance: Sendable, Equatable {
        public var schemes: [String]
        public var bitWidths: [Int]
    }

    public init(name: String) { self.name = name }

    public var narrowActivations: Bool { archType == .dpucadf8h }
}
