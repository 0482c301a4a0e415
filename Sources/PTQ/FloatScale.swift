import Quantizer
import TFProto
import TensorFlowIO
import Tensors

/// The float-scale strategies `fs` and `fsx` (spec 9.4) for CPU/GPU targets: symmetric ranges
/// (activations optionally asymmetric: the FS quantizer's `symmetry` false),
/// weights per output channel (`per_channel`) or per tensor, and TensorFlow's own fake
/// quantization (nudged ranges, round half up) as the arithmetic, so the written model is stock
/// TensorFlow. `fs` quantizes weights and the inputs of conv-like layers; `fsx` also every
/// activation the pof2s pattern table places. Weight ranges are their extremes; activation ranges
/// follow calib_method: minmax (extremes over all batches), kl or percentile (of the |x| histogram).
public enum FloatScaleQuantizer {
    public struct Tensor: Sendable, Codable, Equatable {
        public let node: String
        public let kind: TensorKind
        public let bitWidth: Int
        /// Symmetric range per channel (one value when per tensor): [-amax, amax].
        public let amax: [Float]
        /// An asymmetric activation range's lower end (the range is [min, amax]); absent: -amax.
        public var min: Float? = nil
        /// Power-of-two weights: each channel's lower end (their ranges are [mins, amax]).
        public var mins: [Float]? = nil
        /// Fake quantization with `narrow_range` (the integer range starts at -2^(b-1)+1).
        public var narrow: Bool? = nil

        public init(node: String, kind: TensorKind, bitWidth: Int, amax: [Float], min: Float? = nil, mins: [Float]? = nil, narrow: Bool = false) {
            self.node = node
            self.kind = kind
            self.bitWidth = bitWidth
            self.amax = amax
            self.min = min
            self.mins = mins
            self.narrow = narrow ? true : nil
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// How activation ranges are chosen: the extremes over all batches, the KL-optimal clipping of
    /// the |x| histogram, or a percentile of it.
    public enum Calibration: Sendable, Equatable {
        case minmax, kl
        case percentile(Double)
    }

    /// What the strategy's `weight:` and `activation:` blocks change: power-of-two weights (their
    /// position method; nil: float scales) and narrow ranges ([-2^(b-1)+1, 2^(b-1)-1]).
    public struct Objects: Sendable, Equatable {
        public var pof2Weights: PositionMethod?
        public var narrowWeights = false
        public var narrowActivations = false
        public init(pof2Weights: PositionMethod? = nil, narrowWeights: Bool = false, narrowActivations: Bool = false) {
            self.pof2Weights = pof2Weights
            self.narrowWeights = narrowWeights
            self.narrowActivations = narrowActivations
        }
    }

    /// The range [min, max] of a power-of-two quantizer at position `p`: TensorFlow's fake
    /// quantization over it has the step 2^-p exactly and the zero point 2^(b-1) (or 2^(b-1)-1
    /// narrow), so it computes the power-of-two quantization of the weights (rounding half up).
    public static func pof2Range(position p: Int, bits: Int, narrow: Bool) -> (min: Float, max: Float) {
        let step = Float(sign: .plus, exponent: -p, significand: 1)
        let half = Float(sign: .plus, exponent: bits - 1, significand: 1)
        return ((narrow ? -(half - 1) : -half) * step, (half - 1) * step)
    }

    /// `symmetric` false: each activation's range is its observed [min, max] (0 included, each end
    /// clipped at the calibration method's |x| threshold), not [-amax, amax].
    public static func plan(_ graph: Tensorflow_GraphDef, config: QuantizeConfig, activations all: Bool, perChannel: Bool,
                            calibration: Calibration = .minmax, symmetric: Bool = true, statistics: CalibrationStatistics,
                            path: String, objects: Objects = Objects()) throws -> [Tensor] {
        let g = GraphEdit(graph, path: path)
        let located = Locator.locate(graph, config)
        var out: [Tensor] = []
        var seen = Set<String>()
        func add(_ t: Tensor) { if seen.insert(t.node).inserted { out.append(t) } }
        for group in located.groups {
            guard let w = g.constant(group.weight), let conv = g[group.compute] else { continue }
            // TensorFlow's per-channel fake quantization runs along the last axis: output channels of
            // Conv2D (HWIO) and MatMul; depthwise and transposed-conv weights stay per tensor.
            let lastIsOutput = Set<TFOp>([.conv2D, .matMul]).contains(conv.tfOp) && !(conv.attr["transpose_b"]?.b ?? false)
            let values = w.floatValues()
            let channels = perChannel && lastIsOutput ? (w.shape.last ?? 1) : 1
            if let method = objects.pof2Weights {
                // One power-of-two position per tensor (or per output channel), as a pof2s weight
                // quantizer chooses it; written as the fake-quantization range of that grid.
                // Narrow weights: the search scores the narrow grid. The activation quantizer with
                // a narrow range and without the DPU's rounding is exactly that weight quantizer.
                let quantizer = objects.narrowWeights
                    ? Pof2Quantizer(bitWidth: config.weightBit, mode: .activation, narrowActivations: true, dpuRounding: false)
                    : Pof2Quantizer(bitWidth: config.weightBit, mode: .weight)
                var slices = [[Float]](repeating: [], count: channels)
                for (k, v) in values.enumerated() { slices[k % channels].append(v) }
                var lows: [Float] = [], highs: [Float] = []
                for slice in slices {
                    let p = quantizer.position(slice, method: method)
                    // An all-zero slice keeps a tiny range, as float scales do.
                    let r = p == Pof2Quantizer.allZeroPosition ? (min: Float(-1e-12), max: Float(1e-12))
                        : pof2Range(position: p, bits: config.weightBit, narrow: objects.narrowWeights)
                    lows.append(r.min)
                    highs.append(r.max)
                }
                add(Tensor(node: group.weight, kind: .weight, bitWidth: config.weightBit, amax: highs, min: nil, mins: lows,
                           narrow: objects.narrowWeights))
            } else {
                var amax = [Float](repeating: 0, count: channels)
                for (k, v) in values.enumerated() { amax[k % channels] = max(amax[k % channels], abs(v)) }
                add(Tensor(node: group.weight, kind: .weight, bitWidth: config.weightBit, amax: amax, narrow: objects.narrowWeights))
            }
            try addActivation(group.input)
        }
        if all { for t in located.tensors where t.kind == .activation { try addActivation(t.node) } }
        func addActivation(_ node: String) throws {
            guard !seen.contains(node), g.constant(node) == nil else { return }
            guard let batches = statistics.tensors[node], !batches.isEmpty else {
                throw Failure(description: "\(path): node '\(node)' is to be quantized but calibration never computed it")
            }
            let lo = batches.map(\.min).min()!, hi = batches.map(\.max).max()!
            var amax = max(abs(lo), abs(hi))
            if let histogram = statistics.histograms[node] {
                switch calibration {
                case .minmax: break
                case .kl: amax = Float(histogram.klAmax())
                case let .percentile(p): amax = Float(histogram.percentileAmax(p))
                }
            } else if calibration != .minmax && amax != 0 {
                // Calibration kept no histograms: no strategy sharing it asked for kl or percentile.
                throw Failure(description: "\(path): node '\(node)': calibration kept no |x| histogram (calibrated for minmax ranges only)")
            }
            if symmetric {
                add(Tensor(node: node, kind: .activation, bitWidth: config.activationBit, amax: [max(amax, 1e-12)],
                           narrow: objects.narrowActivations))
            } else {
                // TensorFlow's fake quantization needs 0 inside the range; a range of zero width stays open.
                let low = Swift.max(Swift.min(lo, 0), -amax), high = Swift.min(Swift.max(hi, 0), amax)
                add(Tensor(node: node, kind: .activation, bitWidth: config.activationBit, amax: [high > low ? high : low + 1e-12],
                           min: low, narrow: objects.narrowActivations))
            }
        }
        return out
    }

    /// The quantized model: FakeQuantWithMinMaxVars after every activation, and
    /// FakeQuantWithMinMaxVars(PerChannel) on every weight, consumers rewired.
    public static func model(_ graph: Tensorflow_GraphDef, plan: [Tensor]) -> Tensorflow_GraphDef {
        var g = GraphEdit(graph, path: "")
        for t in plan {
            guard let at = g.index(t.node) else { continue }
            let name = t.node + (t.kind == .activation ? "/aquant" : "/wquant")
            g.replaceUses(of: t.node, with: name)
            var fake = Tensorflow_NodeDef()
            fake.name = name
            fake.op = (t.amax.count > 1 ? TFOp.fakeQuantWithMinMaxVarsPerChannel : .fakeQuantWithMinMaxVars).rawValue
            fake.input = [t.node, "\(name)/min", "\(name)/max"]
            fake.attr["num_bits"] = attrInt(t.bitWidth)
            fake.attr["narrow_range"] = attrBool(t.narrow ?? false)
            g.nodes.insert(fake, at: at + 1)
            let shape = t.amax.count > 1 ? [t.amax.count] : []
            g.addConstant("\(name)/min", t.mins ?? t.min.map { [$0] } ?? t.amax.map { -$0 }, shape: shape, before: at + 1)
            g.addConstant("\(name)/max", t.amax, shape: shape, before: at + 2)
        }
        return g.graphDef
    }
}
