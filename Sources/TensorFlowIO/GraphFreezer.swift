import TFProto
import Tensors

/// Turns an inference graph plus a checkpoint into a frozen graph.
///
/// - Every variable (`VariableV2`/`Variable`, or a resource `VarHandleOp`) the outputs need becomes
///   a `Const` holding the checkpoint's value; `ReadVariableOp` becomes `Identity`.
/// - The graph is pruned to the nodes the output nodes need through data and control inputs.
///   Control inputs from training-only nodes (assignments, initializers, saver, summaries) are
///   dropped, so a BN layer's moving-average update does not drag the optimizer in; a *data*
///   dependency on one is an error, because the frozen value could not be computed.
/// - Devices and `_class` colocation attributes are cleared: a frozen model is placed by whoever
///   loads it, and colocation with a pruned variable would not load.
public enum GraphFreezer {
    public struct Result {
        public var graph: Tensorflow_GraphDef
        /// Names of the variables that became constants, in graph order.
        public var frozenVariables: [String]
        /// How many nodes of the input graph were pruned.
        public var prunedNodeCount: Int
    }

    public static func freeze(_ graph: Tensorflow_GraphDef, checkpoint: CheckpointReader, outputNodes: [String],
                              graphPath: String) throws(TensorFlowIOError) -> Result {
        var byName: [String: Tensorflow_NodeDef] = [:]
        for node in graph.node { byName[node.name] = node }
        for name in outputNodes where byName[name] == nil {
            throw .unknownNode(name: name, role: "output node", path: graphPath)
        }
        let keep = try reachable(from: outputNodes, byName: byName)

        var result = Result(graph: Tensorflow_GraphDef(), frozenVariables: [], prunedNodeCount: graph.node.count - keep.count)
        result.graph.versions = graph.versions
        result.graph.library = graph.library
        var variableDTypes: [String: Tensorflow_DataType] = [:]
        for var node in graph.node where keep.contains(node.name) {
            node.input.removeAll { input in
                let ref = TensorName(input)
                return ref.isControl && !keep.contains(ref.node)
            }
            node.device = ""
            node.attr["_class"] = nil
            if TFOp.variableOps.contains(node.tfOp) {
                let value = try variableValue(node, checkpoint: checkpoint)
                variableDTypes[node.name] = node.attr["dtype"]?.type.baseType
                node = constant(named: node.name, value: value, controlInputs: node.input)
                result.frozenVariables.append(node.name)
            } else if node.tfOp == .readVariableOp {
                node.op = TFOp.identity.rawValue
                let dtype = node.attr["dtype"] ?? Tensorflow_AttrValue()
                node.attr = ["T": dtype]
            }
            result.graph.node.append(node)
        }
        // Identity nodes that passed a resource handle along now pass the value.
        for i in result.graph.node.indices where result.graph.node[i].attr["T"]?.type == .dtResource {
            let source = TensorName(result.graph.node[i].input.first ?? "").node
            if let dtype = variableDTypes[source] {
                result.graph.node[i].attr["T"] = attrType(dtype)
            }
        }
        return result
    }

    /// Nodes needed by `outputs`, following data inputs and the control inputs of non-training nodes.
    private static func reachable(from outputs: [String], byName: [String: Tensorflow_NodeDef]) throws(TensorFlowIOError) -> Set<String> {
        var keep = Set<String>()
        var stack = outputs
        while let name = stack.popLast() {
            guard keep.insert(name).inserted, let node = byName[name] else { continue }
            for input in node.input {
                let ref = TensorName(input)
                guard let producer = byName[ref.node] else { continue }
                if TFOp.isTrainingOnly(producer.op) {
                    if ref.isControl { continue }
                    throw .freeze(node: name, reason: "reads the output of training-only node '\(producer.name)' (\(producer.op)); freeze needs an inference graph")
                }
                stack.append(ref.node)
            }
        }
        return keep
    }

    private static func variableValue(_ node: Tensorflow_NodeDef, checkpoint: CheckpointReader) throws(TensorFlowIOError) -> Tensor {
        var key = node.name
        if checkpoint.entries[key] == nil, let shared = node.attr["shared_name"]?.s, !shared.isEmpty {
            key = String(decoding: shared, as: UTF8.self)
        }
        guard let entry = checkpoint.entries[key] else {
            throw .freeze(node: node.name, reason: "variable (\(node.op)) not found in checkpoint \(checkpoint.prefix).index")
        }
        if let declared = node.attr["dtype"]?.type.baseType, declared != entry.dtype.baseType {
            throw .freeze(node: node.name, reason: "variable is \(declared.tfName) but the checkpoint holds \(entry.dtype.tfName)")
        }
        if let shape = node.attr["shape"]?.shape, let dims = shape.dims, !dims.contains(-1),
           let stored = entry.shape.dims, dims != stored {
            throw .freeze(node: node.name, reason: "variable has shape \(dims) but the checkpoint holds shape \(stored)")
        }
        return try checkpoint.tensor(named: key)
    }

    private static func constant(named name: String, value: Tensor, controlInputs: [String]) -> Tensorflow_NodeDef {
        var node = Tensorflow_NodeDef()
        node.name = name
        node.op = TFOp.const.rawValue
        node.input = controlInputs.filter { $0.hasPrefix("^") }
        node.attr["dtype"] = attrType(Tensorflow_DataType(value.dtype))
        var tensorAttr = Tensorflow_AttrValue()
        tensorAttr.tensor = TensorProtoCodec.encode(value)
        node.attr["value"] = tensorAttr
        return node
    }

    private static func attrType(_ dtype: Tensorflow_DataType) -> Tensorflow_AttrValue {
        var attr = Tensorflow_AttrValue()
        attr.type = dtype
        return attr
    }
}
