/// How the Vitis AI quantizer (vai_q_tensorflow) treats each TensorFlow op type, from its pattern
/// table and graph optimizations: what `inspect` reports per node.
public enum QuantizeRole: String, Codable, Sendable, CaseIterable {
    /// Weights and output get FixNeurons (conv, depthwise, transposed conv, dense).
    case compute
    /// The output gets an activation FixNeuron.
    case activation
    /// Quantized as part of a larger pattern only (e.g. Sigmoid inside swish, BiasAdd after a conv,
    /// Maximum in a LeakyReLU, Minimum/Maximum in clip_by_value, SpaceToBatchND around an atrous conv).
    case inPattern = "in-pattern"
    /// Folded into a neighbour or removed before quantization (batch norm, Identity).
    case folded
    /// A constant: quantized as weights/biases when a compute pattern reads it.
    case constant
    /// A variable or a read of one: becomes a constant when the graph is frozen.
    case variable
    /// Training-only (assignment, initializer, saver, summary): dropped when the graph is frozen.
    case training
    /// Not in the quantizer's table: stays float (runs on the CPU after the DPU subgraph).
    case float

    public static func of(_ op: String) -> QuantizeRole {
        if let role = table[op] { return role }
        if GraphFreezer.variableOps.contains(op) || op == "ReadVariableOp" { return .variable }
        if GraphFreezer.isTrainingOnly(op) { return .training }
        return .float
    }

    private static let table: [String: QuantizeRole] = {
        var t: [String: QuantizeRole] = [:]
        for op in ["Conv2D", "DepthwiseConv2d", "DepthwiseConv2dNative", "Conv2DBackpropInput", "MatMul", "Conv3D"] {
            t[op] = .compute
        }
        for op in ["Placeholder", "Relu", "Relu6", "LeakyRelu", "Add", "AddV2", "Mul", "AddN", "MaxPool", "AvgPool",
                   "Mean", "Max", "Pad", "MirrorPad", "Transpose", "Concat", "ConcatV2", "Squeeze", "Reshape",
                   "ExpandDims", "ResizeBilinear", "ResizeNearestNeighbor", "DepthToSpace"] {
            t[op] = .activation
        }
        for op in ["BiasAdd", "Sigmoid", "Maximum", "Minimum", "RealDiv", "Sub", "Neg", "SpaceToBatchND",
                   "BatchToSpaceND"] {
            t[op] = .inPattern
        }
        for op in ["FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "BatchNormWithGlobalNormalization",
                   "Identity", "IdentityN", "CheckNumerics"] {
            t[op] = .folded
        }
        t["Const"] = .constant
        return t
    }()
}
