/// The op families the passes ask about, named once so a new op joins a family in one place.
extension TFOp {
    /// Layers whose second input is a weight tensor: the compute ops of the quantizer's conv
    /// pattern, the layers batch norms fold into, the ops deploy gives weight attributes.
    public static let convolutionOps: Set<TFOp> = [.conv2D, .depthwiseConv2dNative, .matMul, .conv2DBackpropInput]
    /// Convolutions with HWIO / HWCM weights, which cross-layer equalization scales channel-wise.
    public static let equalizableConvolutionOps: Set<TFOp> = [.conv2D, .depthwiseConv2dNative]
    /// Ops that add a constant bias to a layer's output.
    public static let biasAddOps: Set<TFOp> = [.biasAdd, .add, .addV2]
    /// Two-operand addition (AddV2 is TensorFlow 2's Add).
    public static let addOps: Set<TFOp> = [.add, .addV2]
    /// Element-wise ops the quantizer's `array` pattern quantizes.
    public static let elementwiseOps: Set<TFOp> = [.add, .addV2, .mul]
    /// Multiplication or division by a constant (a hard sigmoid's / 6 is either).
    public static let scalingOps: Set<TFOp> = [.mul, .realDiv]
    /// Activations a pattern absorbs into the op before it.
    public static let reluOps: Set<TFOp> = [.relu, .relu6]
    /// Activations a conv-like layer absorbs (the DPU applies them in its output stage).
    public static let convolutionActivationOps: Set<TFOp> = [.relu, .relu6, .leakyRelu]
    public static let poolOps: Set<TFOp> = [.maxPool, .avgPool]
    public static let concatOps: Set<TFOp> = [.concat, .concatV2]
    public static let resizeOps: Set<TFOp> = [.resizeBilinear, .resizeNearestNeighbor]
    /// Inference-mode batch norms with their statistics as inputs (folded into scale and offset).
    public static let batchNormOps: Set<TFOp> = [.fusedBatchNorm, .fusedBatchNormV2, .fusedBatchNormV3]
    /// Ops that pass their (first) input through unchanged; optimizing bypasses them.
    public static let identityOps: Set<TFOp> = [.identity, .checkNumerics, .snapshot, .stopGradient, .identityN]
    /// Ops through which cross-layer equalization follows a chain of convolutions (positively
    /// homogeneous, or made so: Relu6 becomes Relu when equalizing).
    public static let equalizationChainOps: Set<TFOp> = [.relu, .relu6, .avgPool, .maxPool, .mul, .pad]
    /// Variables; freezing replaces them by constants holding the checkpoint's values.
    public static let variableOps: Set<TFOp> = [.variableV2, .variable, .varHandleOp]
    /// Ops only training needs (see also `trainingPrefixes`); freezing drops them.
    public static let trainingOnlyOps: Set<TFOp> = [
        .assign, .assignAdd, .assignSub, .assignVariableOp, .assignAddVariableOp, .assignSubVariableOp,
        .varIsInitializedOp, .isVariableInitialized, .saveV2, .restoreV2, .save, .saveSlices, .restore,
        .restoreSlice, .mergeV2Checkpoints, .shardedFilename, .shardedFilespec, .stringJoin,
        .scalarSummary, .histogramSummary, .imageSummary, .audioSummary, .tensorSummary, .tensorSummaryV2,
        .mergeSummary, .writeSummary, .writeScalarSummary, .noOp,
    ]
    /// Ops never taken for a graph's outputs although nothing consumes them: a NoOp has no
    /// output, and an unused constant or input is no result.
    public static let neverOutputs: Set<TFOp> = [.noOp, .const, .placeholder]

    /// The ops the GraphDef importer brings in without a node of their own: IdentityN's outputs
    /// are its inputs, a NoOp has none.
    public static let importedWithoutNode: Set<TFOp> = [.identityN, .noOp]
    /// The ops the runtime executes or folds at load time (`GraphImporter` converts them).
    public static let imported: Set<TFOp> = importedWithoutNode.union(allCases.filter { $0.graphIROpName != nil })
}
