import GraphIR
import TFProto
import TensorFlowIO
import Tensors

/// The float-graph preparation vai_q does before placing quantizers (spec 3.1-3.3), as a pure
/// function of the frozen graph: keep the input..output range (inputs become placeholders),
/// remove Identity/IdentityN/CheckNumerics, give shared weights private copies, and fold batch
/// norms and per-channel scales into the convolutions. The result computes the same outputs.
public struct OptimizeOptions: Sendable, Equatable {
    public var inputNodes: [String]
    public var outputNodes: [String]
    /// Shapes of the input nodes (-1 for unknown dimensions), in `inputNodes` order.
    public var inputShapes: [[Int]]
    public var rewrites = GraphRewrites()

    public init(inputNodes: [String], outputNodes: [String], inputShapes: [[Int]]) {
        self.inputNodes = inputNodes
        self.outputNodes = outputNodes
        self.inputShapes = inputShapes
    }
}

/// The graph rewrites a strategy chooses, with vai_q_tensorflow's flag names (in camel case) and
/// defaults. This is the one definition of these settings: strategies hold it, optimize reads it.
public struct GraphRewrites: Sendable, Equatable, Codable {
    /// Evaluate nodes whose inputs are all constants (vai_q's fold_constant): Keras-exported graphs
    /// compute conv biases and batch-norm factors from variables (Reshape, Squeeze, Rsqrt, Mul, ...).
    public var foldConstant = true
    /// Fold batch norms and per-channel scales into the convolutions (off in the float-scale `fs` strategy).
    public var foldBN = true
    /// Cross-layer equalization of conv chains (spec 6.1).
    public var doCLE = false
    /// With doCLE: Relu6 -> Relu first, as equalization needs positive homogeneity.
    public var replaceRelu6 = true
    /// Rewrite the graph to compute what the DPU computes (spec 4): Mean -> AvgPool, large pools
    /// split, AvgPool's multiply-and-shift factor, LeakyRelu alpha 26/256, DPU hard sigmoid.
    public var simulateDPU = true
    /// With simulateDPU: scale every AvgPool (not only 3x3, 5x5, 6x6, 7x7, 14x14) to the DPU's factor.
    public var scaleAllAvgpool = true
    /// With simulateDPU: Sigmoid -> hard sigmoid.
    public var replaceSigmoid = false

    public init() {}

    /// The same rewrites with the settings that cannot act (replaceRelu6 without doCLE,
    /// scaleAllAvgpool and replaceSigmoid without simulateDPU) at their defaults.
    public var effective: GraphRewrites {
        var r = self
        let defaults = GraphRewrites()
        if !doCLE { r.replaceRelu6 = defaults.replaceRelu6 }
        if !simulateDPU {
            r.scaleAllAvgpool = defaults.scaleAllAvgpool
            r.replaceSigmoid = defaults.replaceSigmoid
        }
        return r
    }
}

public enum Optimizer {
    /// Takes `graph` (consuming): the weights it does not keep, and the old values of those it folds, are freed as it goes.
    public static func optimize(_ graph: consuming Tensorflow_GraphDef, _ options: OptimizeOptions, path: String) throws(TensorFlowIOError) -> Tensorflow_GraphDef {
        var g = try partition(graph, options, path: path)
        _ = consume graph
        if !Dropout.remove(&g).isEmpty { pruneUnused(&g, outputs: options.outputNodes, inputs: options.inputNodes) }
        try validate(g, outputs: options.outputNodes, path: path)
        removeIdentities(&g, keep: Set(options.inputNodes + options.outputNodes))
        let rewrites = options.rewrites
        if rewrites.foldConstant { foldConstants(&g, keep: Set(options.inputNodes + options.outputNodes)) }
        separateSharedConstants(&g)
        if rewrites.foldBN {
            batchNormsToScale(&g)
            foldScales(&g, keep: Set(options.outputNodes))
            mergeConstantAdds(&g, keep: Set(options.outputNodes))
        }
        pruneUnused(&g, outputs: options.outputNodes, inputs: options.inputNodes)
        if rewrites.doCLE { CrossLayerEqualization.apply(&g, outputs: options.outputNodes, replaceRelu6: rewrites.replaceRelu6) }
        if rewrites.simulateDPU {
            DPUSimulation.apply(&g, options, path: path)
            pruneUnused(&g, outputs: options.outputNodes, inputs: options.inputNodes)
        }
        return g.graphDef
    }

    /// Drops what folding left unreachable from the outputs (a folded batch norm's statistics).
    static func pruneUnused(_ g: inout GraphEdit, outputs: [String], inputs: [String]) {
        var needed = Set(inputs)
        var stack = outputs
        var byName: [String: Tensorflow_NodeDef] = [:]
        for node in g.nodes { byName[node.name] = node }
        while let name = stack.popLast() {
            guard needed.insert(name).inserted || outputs.contains(name), let node = byName[name] else { continue }
            stack += g.inputs(of: node).filter { !needed.contains($0) }
        }
        g.nodes.removeAll { !needed.contains($0.name) }
    }

    /// What lies outside input_nodes..output_nodes (pre- and post-processing), with the original
    /// definitions of input nodes that were not placeholders: kept aside in float and merged back
    /// into the written models (`PostTrainingQuantizer.merge`), as the reference does.
    public static func auxiliary(_ graph: Tensorflow_GraphDef, _ o: OptimizeOptions, path: String) throws(TensorFlowIOError) -> Tensorflow_GraphDef {
        let main = Set(try partition(graph, o, path: path).nodes.map(\.name))
        var aux = Tensorflow_GraphDef()
        aux.node = graph.node.filter { node in
            !main.contains(node.name) || (o.inputNodes.contains(node.name) && node.tfOp != .placeholder)
        }
        return aux
    }

    /// The subgraph `outputs` need, cut at `inputs` (which become float placeholders): how a model
    /// with pre-/post-processing is reduced to its quantized range for deploy and evaluation.
    public static func cut(_ graph: Tensorflow_GraphDef, inputs: [String], outputs: [String], inputShapes: [[Int]] = [],
                           path: String) throws(TensorFlowIOError) -> Tensorflow_GraphDef {
        try partition(graph, OptimizeOptions(inputNodes: inputs, outputNodes: outputs, inputShapes: inputShapes), path: path).graphDef
    }

    /// The subgraph the output nodes need, cut at the input nodes, which become float placeholders.
    static func partition(_ graph: Tensorflow_GraphDef, _ o: OptimizeOptions, path: String) throws(TensorFlowIOError) -> GraphEdit {
        var byName: [String: Tensorflow_NodeDef] = [:]
        for node in graph.node { byName[node.name] = node }
        for name in o.inputNodes where byName[name] == nil { throw .unknownNode(name: name, role: "input node", path: path) }
        for name in o.outputNodes where byName[name] == nil { throw .unknownNode(name: name, role: "output node", path: path) }
        let inputs = Set(o.inputNodes)
        var needed = Set<String>()
        var stack = o.outputNodes
        while let name = stack.popLast() {
            guard needed.insert(name).inserted, !inputs.contains(name), let node = byName[name] else { continue }
            stack += node.input.filter { !$0.hasPrefix("^") }.map { TensorName($0).node }
        }
        var edit = GraphEdit(Tensorflow_GraphDef(), path: path)
        for node in GraphOrder.topological(graph) where needed.contains(node.name) {
            if let k = o.inputNodes.firstIndex(of: node.name) {
                if let type = node.attr["dtype"]?.type ?? node.attr["T"]?.type, type.baseType != .dtFloat {
                    throw .invalidGraph(path: path, node: node.name,
                                        reason: "input node of type \(type.baseType.tfName); quantize calibrates float32 inputs (name the float node after the decoding or cast as the input)")
                }
                var placeholder = Tensorflow_NodeDef()
                placeholder.name = node.name
                placeholder.op = TFOp.placeholder.rawValue
                placeholder.attr["dtype"] = attrType(.dtFloat)
                var shape = Tensorflow_AttrValue()
                shape.shape = Tensorflow_TensorShapeProto(dims: k < o.inputShapes.count ? o.inputShapes[k] : [])
                if k < o.inputShapes.count {
                    placeholder.attr["shape"] = shape
                } else if node.tfOp == .placeholder, let original = node.attr["shape"] {
                    placeholder.attr["shape"] = original   // no --input_shapes: keep the graph's own
                }
                edit.nodes.append(placeholder)
            } else {
                var copy = node
                copy.input = node.input.filter { !$0.hasPrefix("^") }  // control edges do not survive freezing
                copy.device = ""
                edit.nodes.append(copy)
            }
        }
        return edit
    }

    /// What the passes assume of the graph between the inputs and outputs, checked once so a bad
    /// graph is one error naming its node, never a trap: it imports as `run` imports it (the same
    /// messages: op arity, attributes, dtypes); the constant parameters of convolutions, dense
    /// layers, BiasAdds and batch norms are finite (a NaN or Inf there makes every position
    /// meaningless); a batch norm's four parameter vectors have one length.
    static func validate(_ g: GraphEdit, outputs: [String], path: String) throws(TensorFlowIOError) {
        _ = try GraphImporter.importGraph(g.graphDef, outputs: outputs, path: path)
        let parameterised = TFOp.convolutionOps.union(TFOp.batchNormOps).union([.biasAdd])
        var checked = Set<String>()
        for node in g.nodes where parameterised.contains(node.tfOp) {
            let ins = g.inputs(of: node)
            for name in ins where checked.insert(name).inserted {
                guard let t = g.constant(name), t.dtype == .float32 else { continue }
                let values = t.floatValues()
                if let k = values.firstIndex(where: { !$0.isFinite }) {
                    throw .invalidGraph(path: path, node: name, reason: "holds \(values[k]) at element \(k) (a parameter of '\(node.name)'); weights, biases and batch-norm parameters must be finite")
                }
            }
            if TFOp.batchNormOps.contains(node.tfOp), ins.count == 5 {
                let lengths = ins[1...].map { g.constant($0)?.shape.reduce(1, *) }
                if lengths.allSatisfy({ $0 != nil }), Set(lengths).count > 1 {
                    throw .invalidGraph(path: path, node: node.name,
                                        reason: "batch-norm scale, offset, mean and variance hold \(lengths.map { String($0!) }.joined(separator: ", ")) values; expected one length, a value per channel")
                }
            }
        }
    }

    /// Identity, CheckNumerics, Snapshot, StopGradient (one input) and IdentityN are bypassed
    /// (IdentityN: every use reads its first input, as the reference does); nodes named as inputs
    /// or outputs stay.
    static func removeIdentities(_ g: inout GraphEdit, keep: Set<String>) {
        // Each bypassed node's replacement, found in one pass over the inputs (a chain of bypassed
        // nodes resolves to the first input that is not bypassed).
        var bypass: [String: String] = [:]
        for node in g.nodes where TFOp.identityOps.contains(node.tfOp) && !keep.contains(node.name) {
            guard let first = node.input.first(where: { !$0.hasPrefix("^") }) else { continue }
            bypass[node.name] = first
        }
        guard !bypass.isEmpty else { return }
        for (name, first) in bypass {
            var target = first
            for _ in bypass.indices {
                guard let next = bypass[TensorName(target).node] else { break }
                target = next
            }
            bypass[name] = target
        }
        for i in g.nodes.indices {
            for k in g.nodes[i].input.indices where !g.nodes[i].input[k].hasPrefix("^") {
                if let target = bypass[TensorName(g.nodes[i].input[k]).node] { g.nodes[i].input[k] = target }
            }
        }
        g.nodes.removeAll { bypass[$0.name] != nil }
    }

    /// Replaces every node whose data inputs are all Const nodes, and whose op the loader folds
    /// (GraphIR `Folding`: shape ops, casts, element-wise arithmetic, reductions), by a Const of its
    /// value under the same name, until nothing changes. Values are computed in double and stored
    /// in the node's dtype. Nodes that cannot be folded (an op outside that set, an error) stay.
    static func foldConstants(_ g: inout GraphEdit, keep: Set<String>) {
        var changed = true
        while changed {
            changed = false
            for i in g.nodes.indices {
                let node = g.nodes[i]
                // Constants are values already, inputs vary, a NoOp has no value.
                guard !Set<TFOp>([.const, .placeholder, .noOp]).contains(node.tfOp), !keep.contains(node.name) else { continue }
                let data = node.input.filter { !$0.hasPrefix("^") }
                guard !data.isEmpty, data.allSatisfy({ TensorName($0).outputIndex == 0 && g[TensorName($0).node]?.tfOp == .const }) else { continue }
                var mini = Tensorflow_GraphDef()
                mini.node = Set(data.map { TensorName($0).node }).sorted().map { g[$0]! }
                var copy = node
                copy.input = data
                mini.node.append(copy)
                guard let imported = try? GraphImporter.importGraph(mini, outputs: [node.name], path: g.path),
                      let folded = foldedValue(imported.graph, imported.outputs[0]),
                      let tensor = try? folded.tensor() else { continue }
                var constant = Tensorflow_NodeDef()
                constant.name = node.name
                constant.op = TFOp.const.rawValue
                constant.attr["dtype"] = attrType(Tensorflow_DataType(tensor.dtype))
                constant.attr["value"] = attrTensor(tensor)
                g.nodes[i] = constant
                changed = true
            }
        }
    }

    /// The value of `ref` when every node it depends on is a constant or foldable.
    static func foldedValue(_ graph: Graph, _ ref: ValueRef) -> Folding.Value? {
        guard ref.output == 0 else { return nil }
        var values: [Int: Folding.Value] = [:]
        for (index, node) in graph.nodes.enumerated() {
            if case let .constant(t) = node.op { values[index] = Folding.Value(t); continue }
            guard Folding.canFold(node.op) else { return nil }
            var inputs: [Folding.Value] = []
            for input in node.inputs {
                guard input.output == 0, let v = values[input.node] else { return nil }
                inputs.append(v)
            }
            guard let v = try? Folding.evaluate(node.op, inputs) else { return nil }
            values[index] = v
        }
        return values[ref.node]
    }

    /// Each conv/matmul/BiasAdd reading a Const already read by an earlier one gets a private copy
    /// (`<const><k>`), so folding scales into one layer's weights cannot change another's.
    static func separateSharedConstants(_ g: inout GraphEdit) {
        var seen = Set<String>()
        var copies: [(consumer: String, slot: Int, constant: String)] = []
        for node in g.nodes where TFOp.convolutionOps.contains(node.tfOp) || node.tfOp == .biasAdd {
            for (k, input) in node.input.enumerated() {
                let name = TensorName(input).node
                guard g[name]?.tfOp == .const else { continue }
                if !seen.insert(name).inserted { copies.append((node.name, k, name)) }
            }
        }
        for (consumer, slot, name) in copies {
            var copy = g[name]!
            var n = 1
            while g.index("\(name)\(n)") != nil { n += 1 }
            copy.name = "\(name)\(n)"
            g.nodes.insert(copy, at: g.index(name)! + 1)
            g.nodes[g.index(consumer)!].input[slot] = copy.name
        }
    }

    /// Step A: a FusedBatchNorm* with constant statistics becomes Mul(x, <bn>/scale) named
    /// `<bn>/mul` and BiasAdd(., <bn>/offset) keeping the BN's name.
    static func batchNormsToScale(_ g: inout GraphEdit) {
        for node in g.nodes where TFOp.batchNormOps.contains(node.tfOp) {
            let ins = g.inputs(of: node)
            guard ins.count == 5, let gamma = g.constant(ins[1])?.floatValues(), let beta = g.constant(ins[2])?.floatValues(),
                  let mean = g.constant(ins[3])?.floatValues(), let variance = g.constant(ins[4])?.floatValues(),
                  !(node.attr["is_training"]?.b ?? true) else { continue }
            let eps = node.attr["epsilon"]?.f ?? 1e-4
            let scale = gamma.indices.map { (1 / (variance[$0] + eps).squareRoot()) * gamma[$0] }
            let offset = beta.indices.map { beta[$0] - mean[$0] * scale[$0] }
            let at = g.index(node.name)!
            g.addConstant("\(node.name)/scale", scale, shape: [scale.count], before: at)
            g.addConstant("\(node.name)/offset", offset, shape: [offset.count], before: at + 1)
            var mul = Tensorflow_NodeDef()
            mul.name = "\(node.name)/mul"
            mul.op = TFOp.mul.rawValue
            mul.input = [node.input[0], "\(node.name)/scale"]
            mul.attr["T"] = attrType(.dtFloat)
            var bias = Tensorflow_NodeDef()
            bias.name = node.name
            bias.op = TFOp.biasAdd.rawValue
            bias.input = [mul.name, "\(node.name)/offset"]
            bias.attr["T"] = attrType(.dtFloat)
            bias.attr["data_format"] = attrString("NHWC")
            let i = g.index(node.name)!
            g.nodes[i] = bias
            g.nodes.insert(mul, at: i)
        }
    }

    /// Steps B and C: a per-channel constant Mul after a conv (with or without bias) is folded into
    /// the weights and bias, and a following constant Add into the bias. Skipped when an
    /// intermediate value is used elsewhere.
    static func foldScales(_ g: inout GraphEdit, keep: Set<String>) {
        var changed = true
        while changed {
            changed = false
            for mul in g.nodes where mul.tfOp == .mul && !keep.contains(mul.name) {
                let ins = g.inputs(of: mul)
                guard ins.count == 2 else { continue }
                let (valueName, factorName) = g.constant(ins[1]) != nil ? (ins[0], ins[1]) : (ins[1], ins[0])
                guard let factor = g.constant(factorName)?.floatValues(), var producer = g[valueName],
                      g.uses(of: valueName).count == 1 else { continue }
                // Optional bias between the conv and the Mul.
                var biasNode: Tensorflow_NodeDef? = nil
                if TFOp.biasAddOps.contains(producer.tfOp) {
                    let pin = g.inputs(of: producer)
                    guard pin.count == 2, g.constant(pin[1]) != nil, let conv = g[pin[0]], g.uses(of: conv.name).count == 1 else { continue }
                    biasNode = producer
                    producer = conv
                }
                guard TFOp.convolutionOps.contains(producer.tfOp), let wName = weightName(producer), let w = g.constant(wName),
                      g.uses(of: wName).count == 1 else { continue }
                let channels = outputChannels(producer, w.shape)
                guard factor.count == 1 || factor.count == channels else { continue }
                let f = { (c: Int) in factor.count == 1 ? factor[0] : factor[c] }
                var weights = w.floatValues()
                let channel = channelOf(producer, w.shape)
                for k in weights.indices { weights[k] *= f(channel(k)) }
                g.setConstant(wName, weights, shape: w.shape)
                if let biasNode {
                    let bName = g.inputs(of: biasNode)[1]
                    let b = g.constant(bName)!
                    guard g.uses(of: bName).count == 1 else { continue }
                    let values = b.floatValues()
                    g.setConstant(bName, values.indices.map { values[$0] * f($0 % max(values.count, 1)) }, shape: b.shape)
                    g.replaceUses(of: mul.name, with: biasNode.name)
                    g.remove(mul.name)
                } else {
                    // Mul directly on the conv: it becomes the conv's output; a following constant Add is the bias.
                    g.replaceUses(of: mul.name, with: producer.name)
                    g.remove(mul.name)
                }
                changed = true
                break
            }
        }
    }

    /// A constant add after a bias add (Keras's batch norm offset after a conv with a bias, once
    /// its scale is folded): the second constant joins the first, so the conv has one bias.
    static func mergeConstantAdds(_ g: inout GraphEdit, keep: Set<String>) {
        var changed = true
        while changed {
            changed = false
            for add in g.nodes where TFOp.biasAddOps.contains(add.tfOp) && !keep.contains(add.name) {
                let ins = g.inputs(of: add)
                guard ins.count == 2 else { continue }
                let (valueName, offsetName) = g.constant(ins[1]) != nil ? (ins[0], ins[1]) : (ins[1], ins[0])
                guard let offset = g.constant(offsetName)?.floatValues(), let first = g[valueName], TFOp.biasAddOps.contains(first.tfOp),
                      !keep.contains(first.name), g.uses(of: valueName).count == 1 else { continue }
                let firstIns = g.inputs(of: first)
                guard firstIns.count == 2, let bias = g.constant(firstIns[1]), g.uses(of: firstIns[1]).count == 1, g.constant(firstIns[0]) == nil,
                      bias.shape.count == 1, offset.count == 1 || offset.count == bias.elementCount else { continue }
                let values = bias.floatValues()
                g.setConstant(firstIns[1], values.indices.map { values[$0] + offset[offset.count == 1 ? 0 : $0] }, shape: bias.shape)
                g.replaceUses(of: add.name, with: first.name)
                g.remove(add.name)
                changed = true
                break
            }
        }
    }

    static func weightName(_ conv: Tensorflow_NodeDef) -> String? {
        let ins = conv.input.filter { !$0.hasPrefix("^") }
        return ins.count >= 2 ? TensorName(ins[1]).node : nil
    }

    /// Number of output channels of a conv-like op with weights of `shape`.
    static func outputChannels(_ conv: Tensorflow_NodeDef, _ shape: [Int]) -> Int {
        switch conv.tfOp {
        case .conv2D?: shape.count == 4 ? shape[3] : 0
        case .depthwiseConv2dNative?: shape.count == 4 ? shape[2] * shape[3] : 0
        case .conv2DBackpropInput?: shape.count == 4 ? shape[2] : 0
        default: shape.count == 2 ? ((conv.attr["transpose_b"]?.b ?? false) ? shape[0] : shape[1]) : 0
        }
    }

    /// The output channel each flat weight index contributes to (the op is looked up once, not per weight).
    static func channelOf(_ conv: Tensorflow_NodeDef, _ shape: [Int]) -> (_ k: Int) -> Int {
        switch conv.tfOp {
        case .conv2D?: { [c = shape[3]] k in k % c }
        case .depthwiseConv2dNative?: { [c = shape[2] * shape[3]] k in k % c }
        case .conv2DBackpropInput?: { [inC = shape[3], c = shape[2]] k in (k / inC) % c }
        default: (conv.attr["transpose_b"]?.b ?? false) ? { [n = shape[1]] k in k / n } : { [n = shape[1]] k in k % n }
        }
    }
}
