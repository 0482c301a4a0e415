import GraphIR
import Kernels
import Quantizer
import Tensors

/// A graph specialized to concrete input shapes: shape computations folded to constants, every
/// value's shape known, producer/consumer chains fused (conv -> batch norm -> bias -> activation
/// become one kernel call with folded weights), and the point after which each intermediate can
/// be freed. Planning happens once per input shape; running a plan allocates only activations.
public struct Plan: Sendable {
    /// A graph input: its node name and the concrete shape the plan was made for.
    public struct Input: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
    }

    public let inputs: [Input]
    /// Output names as requested, and where each value lives.
    public let outputs: [(name: String, slot: Int)]
    let steps: [Step]
    /// Initial contents of the value table: constants (weights) in their slots, nil elsewhere.
    let constants: [[Float]?]
    let shapes: [[Int]]
    let inputSlots: [Int]
    /// Shapes of nodes that folded to non-float constants (e.g. an int32 shape output).
    let foldedOutputs: [Int: Tensor]

    /// Floating-point operations of one run: 2 per multiply-add of the convolutions and matrix
    /// products (the usual GFLOP/s convention; element-wise work is not counted).
    /// Winograd convolutions count the direct convolution's flops (the work done, not the multiplies).
    public var flops: Int { stepFlops.reduce(0, +) }

    /// `flops` per step, in execution order (matching `stepKinds`).
    public var stepFlops: [Int] {
        steps.map { step in
            let out = shapes[step.output].reduce(1, *)
            switch step.kernel {
            case let .conv2d(g, _, _, _, _), let .winograd(g, _, _, _, _): return 2 * out * g.kernelH * g.kernelW * g.inC
            case let .depthwise(g, _, _, _, _): return 2 * out * g.kernelH * g.kernelW
            case let .expandDepthwise(g, inC, _, _, _, _, _): return 2 * g.batch * g.inH * g.inW * inC * g.inC + 2 * out * g.kernelH * g.kernelW
            case let .conv2dTranspose(g, outC, inC, _, _, _): return 2 * g.batch * g.outH * g.outW * inC * g.kernelH * g.kernelW * outC
            case let .matmul(m, k, n, _, _, _, _, _): return 2 * m * k * n
            default: return 0
            }
        }
    }

    /// Each step's node name and kernel (e.g. `conv2d 3x3/1 +relu`), in execution order, for profiles.
    public var stepKinds: [(name: String, kernel: String)] {
        steps.map { step in
            let kind: String = switch step.kernel {
            case let .conv2d(g, _, a, _, r): "conv2d\(r ? "+res" : "") \(g.kernelH)x\(g.kernelW)/\(g.strideH)\(a == .none ? "" : " +act")"
            case let .winograd(_, _, a, _, r): "conv2d\(r ? "+res" : "") 3x3/1 winograd\(a == .none ? "" : " +act")"
            case let .depthwise(g, _, a, _, _): "depthwise \(g.kernelH)x\(g.kernelW)/\(g.strideH)\(a == .none ? "" : " +act")"
            case let .expandDepthwise(g, _, _, _, a, _, _): "1x1+depthwise \(g.kernelH)x\(g.kernelW)/\(g.strideH)\(a == .none ? "" : " +act")"
            case .conv2dTranspose: "conv2d_transpose"
            case .matmul: "matmul"
            case let .binary(op, _, _, _): "\(op)"
            case let .unary(op, _): "\(op)"
            case .alias: "alias"
            default: "\(step.kernel)".prefix { $0 != "(" }.description
            }
            return (step.name, kind)
        }
    }

    /// Number of kernel calls, for `--verbose` listings and tests.
    public var stepCount: Int { steps.count }
    /// The node names whose outputs a run hands to its observer, in execution order.
    public var observedNames: [String] { inputs.map(\.name) + steps.map(\.name) }
    /// The concrete output shape of every input and step, by node name.
    public var shapesByName: [String: [Int]] {
        var out: [String: [Int]] = [:]
        for (input, slot) in zip(inputs, inputSlots) { out[input.name] = shapes[slot] }
        for step in steps { out[step.name] = shapes[step.output] }
        return out
    }
}

/// One kernel call.
struct Step: Sendable {
    let name: String
    let sourceOp: String
    let kernel: Kernel
    let inputs: [Int]
    let output: Int
    /// Slots whose last reader is this step: freed after it runs.
    var releases: [Int] = []
}

/// A kernel with every parameter resolved at planning time.
enum Kernel: Sendable {
    // Inputs: x, weights, [bias], [residual: a value of the output's shape added before the activation].
    /// A Conv2D against weights packed when planning (Fast.packedConv2d: 1x1/1 on the input, others through im2col).
    case conv2d(ConvGeometry, outC: Int, activation: Activation, hasBias: Bool, residual: Bool)
    /// A 3x3/1 Conv2D by Winograd F(4x4, 3x3); its weights input is the transformed filter [36, inC, outC].
    case winograd(ConvGeometry, outC: Int, activation: Activation, hasBias: Bool, residual: Bool)
    case depthwise(ConvGeometry, multiplier: Int, activation: Activation, hasBias: Bool, residual: Bool)
    /// A 1x1/1 conv (`inC` -> geometry.inC channels) and the multiplier-1 depthwise conv reading it,
    /// in one call (Fast.expandDepthwise). Inputs: x, packed 1x1 weights, [1x1 bias], depthwise weights,
    /// [depthwise bias], [residual].
    case expandDepthwise(ConvGeometry, inC: Int, expandActivation: Activation, expandBias: Bool, activation: Activation,
                         hasBias: Bool, residual: Bool)
    case conv2dTranspose(ConvGeometry, outC: Int, inC: Int, activation: Activation, hasBias: Bool, residual: Bool)
    case matmul(m: Int, k: Int, n: Int, transposeA: Bool, transposeB: Bool, activation: Activation, hasBias: Bool, residual: Bool)
    case binary(Kernels.BinaryOp, aShape: [Int], bShape: [Int], outShape: [Int])
    case unary(Kernels.UnaryOp, count: Int)
    case batchNorm(count: Int, channels: Int, epsilon: Float)
    /// `padValue`: a folded Pad's constant, which padded cells contribute to the max (nil: TF's SAME, cells outside are ignored).
    case maxPool(ConvGeometry, padValue: Float?)
    case avgPool(ConvGeometry)
    case reduce(GraphIR.ReduceOp, shape: [Int], axes: [Int])
    case pad(shape: [Int], paddings: [(before: Int, after: Int)], value: Float)
    case concat(shapes: [[Int]], axis: Int)
    case softmax(rows: Int, cols: Int)
    case resize(ResizeMode, batch: Int, inH: Int, inW: Int, channels: Int, outH: Int, outW: Int, alignCorners: Bool, halfPixelCenters: Bool)
    case transpose(shape: [Int], perm: [Int])
    case stridedSlice(shape: [Int], plan: StridedSlicePlan)
    /// SpaceToBatchND (`toBatch`) or BatchToSpaceND over H and W of an NHWC value; `shape` is the input's.
    case spaceBatch(toBatch: Bool, shape: [Int], block: [Int], pads: [Int])
    /// out[n, h*b + i, w*b + j, c] = in[n, h, w, (i*b + j)*C + c]; `shape` is the input's.
    case depthToSpace(shape: [Int], block: Int)
    /// TensorFlow's fake quantization with nudged ranges, per tensor or per last-axis channel.
    case fakeQuant(FakeQuantRanges)
    /// Power-of-two quantization (FixNeuron).
    case fixNeuron(Pof2Quantizer, position: Int)
    /// Reshape, squeeze, expand_dims, identity: the same values under a new shape.
    case alias
}
