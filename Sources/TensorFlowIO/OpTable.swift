import TFProto

/// Every TensorFlow op type vaiq-build knows, and what each pass needs to know about it: its
/// quantization role, the GraphIR op it imports to, the quantizer patterns it takes part in
/// (`QuantizePattern`), and the DPU operation it runs as (`DPUOp`). Passes use these cases, never
/// the names; the names are spelled only here and in the GraphDef importer.
/// (`tools/op_literals.py --check` enforces that.)
public enum TFOp: String, CaseIterable, Sendable {
    // Graph plumbing.
    case placeholder = "Placeholder", placeholderWithDefault = "PlaceholderWithDefault", const = "Const"
    case identity = "Identity", identityN = "IdentityN", snapshot = "Snapshot", stopGradient = "StopGradient"
    case checkNumerics = "CheckNumerics", noOp = "NoOp"
    // Function calls (TF2 graphs and SavedModels; inlined when a SavedModel is read).
    case statefulPartitionedCall = "StatefulPartitionedCall", partitionedCall = "PartitionedCall"
    // Layers with weights.
    case conv2D = "Conv2D", depthwiseConv2dNative = "DepthwiseConv2dNative", conv2DBackpropInput = "Conv2DBackpropInput"
    case matMul = "MatMul", depthwiseConv2d = "DepthwiseConv2d", conv3D = "Conv3D"
    case biasAdd = "BiasAdd", biasAddV1 = "BiasAddV1"
    case fusedBatchNorm = "FusedBatchNorm", fusedBatchNormV2 = "FusedBatchNormV2", fusedBatchNormV3 = "FusedBatchNormV3"
    case batchNormWithGlobalNormalization = "BatchNormWithGlobalNormalization"
    // Element-wise.
    case add = "Add", addV2 = "AddV2", addN = "AddN", sub = "Sub", mul = "Mul", realDiv = "RealDiv", div = "Div"
    case maximum = "Maximum", minimum = "Minimum", squaredDifference = "SquaredDifference", floorDiv = "FloorDiv"
    case floorMod = "FloorMod", pow = "Pow"
    case relu = "Relu", relu6 = "Relu6", leakyRelu = "LeakyRelu", sigmoid = "Sigmoid", tanh = "Tanh", hardSwish = "HardSwish"
    case elu = "Elu", selu = "Selu", softmax = "Softmax", lrn = "LRN"
    case exp = "Exp", log = "Log", neg = "Neg", sqrt = "Sqrt", rsqrt = "Rsqrt", square = "Square", abs = "Abs"
    case floor = "Floor", ceil = "Ceil", round = "Round", sign = "Sign", cast = "Cast"
    // Dropout's random mask (removed by optimize: inference keeps every value).
    case randomUniform = "RandomUniform", greaterEqual = "GreaterEqual", select = "Select", selectV2 = "SelectV2"
    // Pooling and reductions.
    case maxPool = "MaxPool", avgPool = "AvgPool"
    case mean = "Mean", sum = "Sum", max = "Max", min = "Min", prod = "Prod", argMax = "ArgMax"
    // Shapes and data movement.
    case pad = "Pad", padV2 = "PadV2", mirrorPad = "MirrorPad", concat = "Concat", concatV2 = "ConcatV2"
    case reshape = "Reshape", squeeze = "Squeeze", expandDims = "ExpandDims", transpose = "Transpose"
    case shape = "Shape", stridedSlice = "StridedSlice", slice = "Slice", pack = "Pack", fill = "Fill", range = "Range"
    case gatherV2 = "GatherV2", spaceToBatchND = "SpaceToBatchND", batchToSpaceND = "BatchToSpaceND"
    case depthToSpace = "DepthToSpace", resizeBilinear = "ResizeBilinear", resizeNearestNeighbor = "ResizeNearestNeighbor"
    // Quantization.
    case fixNeuron = "FixNeuron", fakeQuantWithMinMaxVars = "FakeQuantWithMinMaxVars"
    case fakeQuantWithMinMaxVarsPerChannel = "FakeQuantWithMinMaxVarsPerChannel", fakeQuantWithMinMaxArgs = "FakeQuantWithMinMaxArgs"
    // Variables (become constants when frozen).
    case variableV2 = "VariableV2", variable = "Variable", varHandleOp = "VarHandleOp", readVariableOp = "ReadVariableOp"
    // Training only (dropped when frozen): assignment, initialization checks, saver, summaries.
    case assign = "Assign", assignAdd = "AssignAdd", assignSub = "AssignSub", assignVariableOp = "AssignVariableOp"
    case assignAddVariableOp = "AssignAddVariableOp", assignSubVariableOp = "AssignSubVariableOp"
    case varIsInitializedOp = "VarIsInitializedOp", isVariableInitialized = "IsVariableInitialized"
    case saveV2 = "SaveV2", restoreV2 = "RestoreV2", save = "Save", saveSlices = "SaveSlices", restore = "Restore"
    case restoreSlice = "RestoreSlice", mergeV2Checkpoints = "MergeV2Checkpoints", shardedFilename = "ShardedFilename"
    case shardedFilespec = "ShardedFilespec", stringJoin = "StringJoin"
    case scalarSummary = "ScalarSummary", histogramSummary = "HistogramSummary", imageSummary = "ImageSummary"
    case audioSummary = "AudioSummary", tensorSummary = "TensorSummary", tensorSummaryV2 = "TensorSummaryV2"
    case mergeSummary = "MergeSummary", writeSummary = "WriteSummary", writeScalarSummary = "WriteScalarSummary"

    /// Optimizer op families (`ApplyAdam`, `ResourceSparseApplyMomentum`, ...): training only.
    static let trainingPrefixes = ["Apply", "ResourceApply", "SparseApply", "ResourceSparseApply"]

    private static let byName: [String: TFOp] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

    /// The op named `name` (a dictionary lookup: passes ask this for every node, often).
    public static func named(_ name: String) -> TFOp? { byName[name] }

    /// How the quantizer treats the op (see `QuantizeRole`); `inspect` reports it.
    public var role: QuantizeRole {
        switch self {
        case .conv2D, .depthwiseConv2dNative, .conv2DBackpropInput, .matMul: .compute
        case .placeholder, .relu, .relu6, .leakyRelu, .add, .addV2, .mul, .addN, .maxPool, .avgPool, .mean, .max, .pad,
             .mirrorPad, .transpose, .concat, .concatV2, .squeeze, .reshape, .expandDims, .resizeBilinear,
             .resizeNearestNeighbor, .depthToSpace: .activation
        case .biasAdd, .realDiv, .sigmoid: .inPattern
        case _ where Self.batchNormOps.contains(self) || Self.identityOps.contains(self): .folded
        case .const: .constant
        case _ where Self.variableOps.contains(self) || self == .readVariableOp: .variable
        case _ where Self.trainingOnlyOps.contains(self): .training
        default: .float
        }
    }

    /// `Op.name` of the GraphIR op the importer makes of this one; nil when it has none (IdentityN
    /// and NoOp import without a node of their own: see `importedWithoutNode`).
    public var graphIROpName: String? {
        switch self {
        case .placeholder: "input"
        case .const: "constant"
        case .placeholderWithDefault, .identity, .snapshot, .stopGradient: "identity"
        case .conv2D: "conv2d"
        case .depthwiseConv2dNative: "depthwise_conv2d"
        case .conv2DBackpropInput: "conv2d_transpose"
        case .matMul: "matmul"
        case .biasAdd, .biasAddV1: "bias_add"
        case .add, .addV2, .addN: "add"
        case .realDiv, .div: "div"
        case .sub, .mul, .maximum, .minimum, .squaredDifference, .floorDiv, .floorMod: binaryName
        case .relu, .relu6, .sigmoid, .tanh, .exp, .neg, .sqrt, .rsqrt, .square, .abs, .floor, .ceil, .round: rawValue.lowercased()
        case .leakyRelu: "leaky_relu"
        case .hardSwish: "hard_swish"
        case .fusedBatchNorm, .fusedBatchNormV2, .fusedBatchNormV3: "batch_norm"
        case .maxPool: "max_pool"
        case .avgPool: "avg_pool"
        case .mean, .sum, .max, .min, .prod: "reduce_" + rawValue.lowercased()
        case .pad, .padV2: "pad"
        case .concat, .concatV2: "concat"
        case .reshape, .squeeze, .softmax, .transpose, .shape, .slice, .pack, .cast, .fill, .range: rawValue.lowercased()
        case .expandDims: "expand_dims"
        case .stridedSlice: "strided_slice"
        case .resizeBilinear: "resize_bilinear"
        case .resizeNearestNeighbor: "resize_nearest"
        case .gatherV2: "gather"
        case .spaceToBatchND: "space_to_batch"
        case .batchToSpaceND: "batch_to_space"
        case .depthToSpace: "depth_to_space"
        case .fixNeuron: "fix_neuron"
        case .fakeQuantWithMinMaxVars, .fakeQuantWithMinMaxVarsPerChannel, .fakeQuantWithMinMaxArgs: "fake_quant"
        default: nil
        }
    }

    /// GraphIR's `BinaryOp` names are the TensorFlow names in lower camel case.
    private var binaryName: String { rawValue.prefix(1).lowercased() + rawValue.dropFirst() }

    /// The operation a DPU runs this op as: the names of the targets' `supported_ops`. Nil for ops a
    /// DPU does not run (constants, inputs, folded ops, and everything the CPU keeps).
    public var dpuOp: DPUOp? {
        switch self {
        case .conv2D: .conv2d
        case .depthwiseConv2dNative, .depthwiseConv2d: .depthwiseConv2d
        case .conv2DBackpropInput: .conv2dTranspose
        case .matMul: .dense
        case .relu: .relu
        case .relu6: .relu6
        case .leakyRelu: .leakyRelu
        case .add, .addV2, .addN: .add
        case .mul: .mul
        case .concat, .concatV2: .concat
        case .maxPool: .maxPool
        case .avgPool: .avgPool
        case .mean: .mean
        case .pad, .padV2, .mirrorPad: .pad
        // Squeeze and ExpandDims only relabel dimensions, as Reshape does.
        case .reshape, .squeeze, .expandDims: .reshape
        case .resizeBilinear, .resizeNearestNeighbor: .resize
        case .depthToSpace: .depthToSpace
        default: nil
        }
    }

    /// Whether a target whose `supported_ops` are `supportedOps` runs this op on its DPU.
    public func isSupported(by supportedOps: [String]) -> Bool {
        dpuOp.map { supportedOps.contains($0.rawValue) } ?? false
    }

    /// `isSupported(by:)` for an op type by name; false for names outside the table.
    public static func dpuSupports(_ opName: String, supportedOps: [String]) -> Bool {
        named(opName)?.isSupported(by: supportedOps) ?? false
    }

    /// The valid names of a target's `supported_ops`, for a manifest loader to check against.
    public static let dpuOpNames: Set<String> = Set(DPUOp.allCases.map(\.rawValue))

    /// Keras layer classes (a vendor strategy's `layer_type`, module path dropped) and the TF op
    /// types a frozen graph has for them, as `layers:` keys: what a vendor JSON strategy's
    /// per-layer quantizers apply to. A class not listed (BatchNormalization, the vendor's own
    /// layers, ...) has no op type of its own in a frozen TF1 graph.
    public static let kerasLayers: [String: [TFOp]] = [
        "Conv2D": [.conv2D], "DepthwiseConv2D": [.depthwiseConv2dNative], "Conv2DTranspose": [.conv2DBackpropInput],
        "Dense": [.matMul], "Add": [.add, .addV2], "Multiply": [.mul], "Concatenate": [.concatV2],
        "MaxPooling2D": [.maxPool], "AveragePooling2D": [.avgPool], "GlobalAveragePooling2D": [.mean],
        "ReLU": [.relu, .relu6], "LeakyReLU": [.leakyRelu], "UpSampling2D": [.resizeNearestNeighbor, .resizeBilinear],
        "ZeroPadding2D": [.pad], "Reshape": [.reshape], "Flatten": [.reshape],
    ]

    /// Training-only by name, including optimizer families outside the table (`ApplyAdam`, ...).
    public static func isTrainingOnly(_ name: String) -> Bool {
        named(name).map(trainingOnlyOps.contains) ?? false || trainingPrefixes.contains { name.hasPrefix($0) }
    }
}

/// The DPU operations the targets' `supported_ops` lists name (manifests/targets.yaml).
public enum DPUOp: String, CaseIterable, Sendable {
    case conv2d, depthwiseConv2d = "depthwise_conv2d", conv2dTranspose = "conv2d_transpose", dense
    case relu, relu6, leakyRelu = "leaky_relu", hardSigmoid = "hard_sigmoid"
    case add, mul, concat, maxPool = "max_pool", avgPool = "avg_pool", mean, pad, reshape, resize
    case depthToSpace = "depth_to_space"
}

/// Op types of the legacy `deploy_model.pb` format (the DNNC-era compiler's), which the deploy
/// pass writes in place of TensorFlow ops; TensorFlow itself has no such ops.
public enum DeployOp: String, Sendable {
    /// An unfolded batch norm (Mul then Add by constants) with its scale and offset as attributes.
    case scale = "Scale"
    /// Conv2DBackpropInput with its weights as attributes.
    case deconv2d = "Deconv2d"
    /// ResizeBilinear / ResizeNearestNeighbor with the size as attributes.
    case deephiResize = "DeephiResize"
}

extension TFOp {
    /// The first output index of the output argument `name` (function bodies name tensors
    /// `node:arg:i`): the batch norms' several arguments; every other op here has one (nil: not
    /// an output argument of this op).
    public func outputArgOffset(_ name: String) -> Int? {
        switch self {
        case .fusedBatchNorm, .fusedBatchNormV2, .fusedBatchNormV3:
            ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3"].firstIndex(of: name)
        default: 0
        }
    }

    /// How many outputs a node of this op has (one, except the batch norms).
    public func outputCount(_ node: Tensorflow_NodeDef) -> Int {
        switch self {
        case .fusedBatchNorm, .fusedBatchNormV2: 5
        case .fusedBatchNormV3: 6
        default: 1
        }
    }
}

extension Tensorflow_NodeDef {
    /// The node's op type; nil when the table does not know it.
    public var tfOp: TFOp? { TFOp.named(op) }

    /// The node's role in quantization (`float` for op types outside the table, except optimizer ops).
    public var quantizeRole: QuantizeRole { QuantizeRole.of(op) }
}

extension Set<TFOp> {
    /// Membership of a node's op type (`TFOp.convolutionOps.contains(node.tfOp)`); false for nil.
    public func contains(_ op: TFOp?) -> Bool { op.map { contains($0) } ?? false }
}
