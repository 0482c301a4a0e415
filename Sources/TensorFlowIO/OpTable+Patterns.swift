/// The quantizer's patterns, as `Locator` (Sources/PTQ/Locate.swift) matches them, in its order
/// (an earlier match wins a node): which tensors of a group of nodes get FixNeurons. The raw
/// values are the labels `inspect` prints.
public enum QuantizePattern: String, CaseIterable, Sendable, Codable {
    /// A graph input: its output quantized.
    case input
    /// A conv-like layer, an optional bias add and an optional Relu / Relu6 / LeakyRelu: weights,
    /// bias and the last output quantized.
    case convolution = "conv_bias_act"
    /// x * hard_sigmoid(x) after DPU simulation.
    case hardSwish = "hard_swish"
    /// Relu6(x + 3) / 6 followed by DPU simulation's scale multiply.
    case hardSigmoid = "hard_sigmoid"
    /// AvgPool followed by DPU simulation's scale multiply.
    case avgPoolScale = "avgpool_mul"
    /// Swish / SiLU, x * Sigmoid(x) (Keras may scale x by a beta of 1 first): the product, the
    /// sigmoid and x quantized.
    case swish
    /// An unfolded batch norm: Add(Mul(x, scale), offset), optionally Relu / Relu6.
    case batchNorm = "batchnorm"
    /// Mul by a constant, optionally Relu / Relu6.
    case mulConstant = "mul_const"
    /// Add / AddV2 / Mul of two tensors, optionally Relu / Relu6.
    case elementwise = "array"
    /// A LeakyRelu on its own (alpha stays an attribute).
    case leakyRelu = "leaky_relu"
    /// Resizes and depth-to-space.
    case resize
    /// Pooling, padding, concatenation, reshapes, reductions and AddN, optionally Relu / Relu6.
    case other

    /// The op types that take part in the pattern.
    public var ops: Set<TFOp> {
        switch self {
        case .input: [.placeholder]
        case .convolution: TFOp.convolutionOps.union(TFOp.biasAddOps).union(TFOp.convolutionActivationOps)
        case .hardSigmoid: TFOp.hardSigmoidOps
        case .hardSwish: TFOp.hardSigmoidOps.union([.mul])
        case .avgPoolScale: [.avgPool, .mul]
        case .swish: [.mul, .sigmoid]
        case .batchNorm: TFOp.biasAddOps.union([.mul]).union(TFOp.reluOps)
        case .mulConstant: TFOp.reluOps.union([.mul])
        case .elementwise: TFOp.elementwiseOps.union(TFOp.reluOps)
        case .leakyRelu: [.leakyRelu]
        case .resize: TFOp.singleInputPatternOps.subtracting([.leakyRelu])
        case .other: TFOp.otherPatternOps
        }
    }
}

extension TFOp {
    /// The patterns the op can take part in, in the quantizer's order.
    public var patterns: [QuantizePattern] { QuantizePattern.allCases.filter { $0.ops.contains(self) } }

    /// A hard sigmoid's ops: Add(x, 3), Relu6, Mul or RealDiv by 6, and the scale Mul.
    public static let hardSigmoidOps: Set<TFOp> = addOps.union(scalingOps).union([.relu6])
    /// Ops whose output alone is quantized (the `resize` and `leaky_relu` patterns).
    public static let singleInputPatternOps: Set<TFOp> = resizeOps.union([.depthToSpace, .leakyRelu])
    /// The op types a strategy's `layers:` may name: the main op of a pattern whose tensors are
    /// quantized (an activation quantized on behalf of a compute layer counts for its producer's op).
    public static var quantizedLayerOps: Set<TFOp> {
        Set<TFOp>([.placeholder, .mul]).union(convolutionOps).union(elementwiseOps).union(singleInputPatternOps).union(otherPatternOps)
    }
    /// Those of them with weights and biases: conv-like layers, and Mul as an unfolded batch norm's scale.
    public static var weightedLayerOps: Set<TFOp> { convolutionOps.union([.mul]) }

    /// The `other` pattern's ops (a following Relu / Relu6 joins them).
    public static let otherPatternOps: Set<TFOp> = [
        .max, .avgPool, .maxPool, .mean, .pad, .mirrorPad, .transpose, .concat, .concatV2, .squeeze, .reshape, .expandDims,
        .relu, .relu6, .addN,
    ]
}
