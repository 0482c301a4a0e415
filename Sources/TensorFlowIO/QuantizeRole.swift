/// How vaiq-build's quantizer (following vai_q_tensorflow's pattern table and graph
/// optimizations) treats an op type: what `inspect` reports per node. `TFOp.role` gives it.
public enum QuantizeRole: String, Codable, Sendable, CaseIterable {
    /// Weights and output get FixNeurons (conv, depthwise, transposed conv, dense).
    case compute
    /// The output gets an activation FixNeuron.
    case activation
    /// Quantized as part of a larger pattern only (BiasAdd after a conv, RealDiv in a hard sigmoid):
    /// `TFOp.patterns` names them.
    case inPattern = "in-pattern"
    /// Folded into a neighbour or removed before quantization (batch norm, Identity).
    case folded
    /// A constant: quantized as weights/biases when a compute pattern reads it.
    case constant
    /// A variable or a read of one: becomes a constant when the graph is frozen.
    case variable
    /// Training-only (assignment, initializer, saver, summary): dropped when the graph is frozen.
    case training
    /// In no quantizer pattern: stays float (runs on the CPU after the DPU subgraph).
    case float

    /// The role of an op type by name; optimizer ops outside the table (`ApplyAdam`) are training.
    public static func of(_ op: String) -> QuantizeRole {
        TFOp.named(op)?.role ?? (TFOp.isTrainingOnly(op) ? .training : .float)
    }
}
