import Tensors

/// The operations vaiq-build understands, independent of any file format. An importer (the
/// TensorFlow one lives in TensorFlowIO) maps its own op names onto these and normalizes the
/// order of inputs; the comment on each case gives that order.
public enum Op: Sendable, Equatable {
    /// A graph input (placeholder). `shape` uses -1 for dimensions known only at run time.
    case input(dtype: DType, shape: [Int]?)
    case constant(Tensor)
    /// [x (NHWC), filter (HWIO)]
    case conv2d(Convolution)
    /// [x, filter (H, W, C, multiplier)]; output channel c*multiplier + m.
    case depthwiseConv2d(Convolution)
    /// [x, filter (H, W, outC, inC), outputShape]: the gradient of a conv2d whose input has `outputShape`.
    case conv2dTranspose(Convolution)
    /// [a, b]
    case matmul(transposeA: Bool, transposeB: Bool)
    /// [x, bias]: bias added along the last axis.
    case biasAdd
    /// [a, b] with NumPy broadcasting.
    case binary(BinaryOp)
    /// [x]
    case unary(UnaryOp)
    /// [x, scale, offset, mean, variance]: inference-mode batch normalization over the last axis.
    case batchNorm(epsilon: Float)
    /// [x]
    case pool(PoolKind, Window)
    /// [x, axes]
    case reduce(ReduceOp, keepDims: Bool)
    /// [x, paddings (rank x 2)] or [x, paddings, value]
    case pad
    /// [x0, x1, ..., axis]
    case concat
    /// [x, shape] (one -1 allowed)
    case reshape
    /// [x]; empty `axes` squeezes every size-1 dimension.
    case squeeze(axes: [Int])
    /// [x, axis]
    case expandDims
    /// [x], over the last axis.
    case softmax
    /// [x, size (outH, outW)]
    case resize(ResizeMode, alignCorners: Bool, halfPixelCenters: Bool)
    /// [x]
    case identity
    /// [x, permutation]
    case transpose
    /// [x]: the shape of x as a 1-D tensor of `dtype`.
    case shape(dtype: DType)
    /// [x, begin, end, strides]
    case stridedSlice(StridedSliceMasks)
    /// [x, begin, size]
    case slice
    /// [x0, x1, ...] stacked along `axis`.
    case pack(axis: Int)
    /// [x]
    case cast(DType)
    /// [dims, value]
    case fill
    /// [start, limit, delta]
    case range
    /// [params, indices, axis]
    case gather
    /// [x, blockShape (2), paddings (2 x 2)]: TensorFlow's SpaceToBatchND over H and W (atrous convolution).
    case spaceToBatch
    /// [x, blockShape (2), crops (2 x 2)]: the inverse, BatchToSpaceND.
    case batchToSpace
    /// [x]: NHWC depth-to-space (TensorFlow's DCR order).
    case depthToSpace(blockSize: Int)
    /// [x]: power-of-two quantization at a fixed position (vai_q's FixNeuron in evaluation phase);
    /// `mode` 0 weight, 1 activation, 2 depthwise weight.
    case fixNeuron(bitWidth: Int, position: Int, mode: Int)
    /// [x, min, max] (per tensor, or per last-axis channel): TensorFlow's FakeQuantWithMinMaxVars
    /// (PerChannel); FakeQuantWithMinMaxArgs imports with constant min/max inputs.
    case fakeQuant(numBits: Int, narrowRange: Bool)

    /// A short lowercase name for messages and listings.
    public var name: String {
        switch self {
        case .input: "input"
        case .constant: "constant"
        case .conv2d: "conv2d"
        case .depthwiseConv2d: "depthwise_conv2d"
        case .conv2dTranspose: "conv2d_transpose"
        case .matmul: "matmul"
        case .biasAdd: "bias_add"
        case let .binary(op): "\(op)"
        case let .unary(op): op.name
        case .batchNorm: "batch_norm"
        case let .pool(kind, _): "\(kind)_pool"
        case let .reduce(op, _): "reduce_\(op)"
        case .pad: "pad"
        case .concat: "concat"
        case .reshape: "reshape"
        case .squeeze: "squeeze"
        case .expandDims: "expand_dims"
        case .softmax: "softmax"
        case let .resize(mode, _, _): "resize_\(mode)"
        case .identity: "identity"
        case .transpose: "transpose"
        case .shape: "shape"
        case .stridedSlice: "strided_slice"
        case .slice: "slice"
        case .pack: "pack"
        case .cast: "cast"
        case .fill: "fill"
        case .range: "range"
        case .gather: "gather"
        case .spaceToBatch: "space_to_batch"
        case .batchToSpace: "batch_to_space"
        case .depthToSpace: "depth_to_space"
        case .fixNeuron: "fix_neuron"
        case .fakeQuant: "fake_quant"
        }
    }
}

public enum Padding: Sendable, Equatable {
    case same, valid
    case explicit(top: Int, bottom: Int, left: Int, right: Int)
}

/// Strides, dilations and padding of a 2-D convolution over NHWC data.
public struct Convolution: Sendable, Equatable {
    public var strideH, strideW: Int
    public var dilationH, dilationW: Int
    public var padding: Padding

    public init(strideH: Int = 1, strideW: Int = 1, dilationH: Int = 1, dilationW: Int = 1, padding: Padding) {
        self.strideH = strideH
        self.strideW = strideW
        self.dilationH = dilationH
        self.dilationW = dilationW
        self.padding = padding
    }
}

public enum PoolKind: String, Sendable, Equatable { case max, avg }

/// A pooling window over NHWC data.
public struct Window: Sendable, Equatable {
    public var sizeH, sizeW: Int
    public var strideH, strideW: Int
    public var padding: Padding

    public init(sizeH: Int, sizeW: Int, strideH: Int, strideW: Int, padding: Padding) {
        self.sizeH = sizeH
        self.sizeW = sizeW
        self.strideH = strideH
        self.strideW = strideW
        self.padding = padding
    }
}

public enum BinaryOp: String, Sendable, Equatable, CaseIterable {
    case add, sub, mul, div, maximum, minimum, squaredDifference, floorDiv, floorMod
}

public enum UnaryOp: Sendable, Equatable {
    case relu, relu6, sigmoid, tanh, exp, neg, sqrt, rsqrt, square, abs, floor, ceil, round
    case leakyRelu(alpha: Float)
    case hardSigmoid, hardSwish, swish

    public var name: String {
        switch self {
        case .leakyRelu: "leaky_relu"
        case .hardSigmoid: "hard_sigmoid"
        case .hardSwish: "hard_swish"
        default: "\(self)"
        }
    }
}

public enum ReduceOp: String, Sendable, Equatable { case mean, sum, max, min, prod }

public enum ResizeMode: String, Sendable, Equatable { case bilinear, nearest }

/// TensorFlow's StridedSlice bit masks (bit i refers to slice dimension i).
public struct StridedSliceMasks: Sendable, Equatable {
    public var begin = 0, end = 0, ellipsis = 0, newAxis = 0, shrinkAxis = 0
    public init(begin: Int = 0, end: Int = 0, ellipsis: Int = 0, newAxis: Int = 0, shrinkAxis: Int = 0) {
        self.begin = begin
        self.end = end
        self.ellipsis = ellipsis
        self.newAxis = newAxis
        self.shrinkAxis = shrinkAxis
    }
}
