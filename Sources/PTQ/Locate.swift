import Quantizer
import TFProto
import TensorFlowIO

/// Quantization settings read by `locate` and `quantize` (vai_q_tensorflow's flag names).
public struct QuantizeConfig: Sendable, Equatable {
    public var weightBit = 8
    public var activationBit = 8
    public var method = PositionMethod.minDiffs
    /// The graph inputs' method (vai_q: always non-overflow; `nodes_method` still overrides it).
    public var inputMethod = PositionMethod.nonOverflow
    /// Per-node overrides; a compute node's name means its weights.
    public var nodesBit: [String: Int] = [:]
    public var nodesMethod: [String: Int] = [:]
    public var ignoreNodes: Set<String> = []
    /// 0 = all concats, 1 = only concats among the output nodes, 2 = none.
    public var alignConcat = 0
    public var alignPool = 0
    /// Which position an aligned concat or pool and its inputs share.
    public var alignRule = AlignRule.tf1
    public var adjustShiftCut = true
    /// 0 off, 1 static, 2 dynamic.
    public var adjustShiftBias = 1
    /// Biases' bit width; nil: `weightBit` (vai_q_tensorflow's rule; a layer's weight override
    /// does not move its bias).
    public var biasBit: Int?
    /// Per TF op type (the op of a layer's main node: `Conv2D`, `DepthwiseConv2dNative`, `Add`,
    /// ...): bit widths and methods overriding the defaults above; `nodesBit` / `nodesMethod`
    /// still win per node.
    public var layers: [String: LayerQuantizers] = [:]
    /// The strategy's `weight:`, `bias:`, `activation:` blocks' methods (nil: `method`); the graph
    /// inputs keep `inputMethod`.
    public var weightMethod: PositionMethod?
    public var biasMethod: PositionMethod?
    public var activationMethod: PositionMethod?
    public init() {}
}

/// One op type's quantizers (a strategy's `layers:` entry): nil fields keep the strategy's.
public struct LayerQuantizers: Sendable, Equatable, Codable {
    public var weightBit: Int?
    public var weightMethod: PositionMethod?
    public var biasBit: Int?
    public var activationBit: Int?
    public var activationMethod: PositionMethod?
    public var biasMethod: PositionMethod?

    public init(weightBit: Int? = nil, weightMethod: PositionMethod? = nil, biasBit: Int? = nil, activationBit: Int? = nil,
                activationMethod: PositionMethod? = nil, biasMethod: PositionMethod? = nil) {
        self.weightBit = weightBit
        self.weightMethod = weightMethod
        self.biasMethod = biasMethod
        self.biasBit = biasBit
        self.activationBit = activationBit
        self.activationMethod = activationMethod
    }
}

/// How align_concat and align_pool choose the one position a concat (or pool) and its inputs share.
public enum AlignRule: String, Sendable, Codable, CaseIterable {
    /// vai_q_tensorflow (TF1): the output's position, copied upstream; an input with a larger range clips.
    case tf1
    /// vai_q_tensorflow2: the smallest of the output's and the inputs' positions (the widest range),
    /// so no aligned tensor clips; repeated until concats and pools sharing tensors agree.
    case min
}

public enum TensorKind: String, Sendable, Codable { case weight, bias, activation }

/// One quantized tensor: the output of `node`, with its FixNeuron's settings.
public struct QuantTensor: Sendable, Codable, Equatable {
    public let node: String
    public let kind: TensorKind
    public var mode: QuantizeMode
    public var method: PositionMethod
    public var bitWidth: Int
    public var position: Int?
    /// Why the calibrated position was changed (align_concat, shift_cut, ...), in order.
    public var adjustedBy: [String] = []
    /// pof2s_tqt: the trained log2 threshold the position came from (p = b - 1 - ceil(log_th)).
    public var trainedLogThreshold: Float? = nil
    /// The activation whose position an align rule (align_concat, align_pool) last copied into
    /// this one, recorded whether or not the position changed: the rules' structure, which
    /// pof2s_tqt training uses to share one threshold between tensors that must agree.
    public var alignedWith: String? = nil

    public var fixNeuronName: String { node + (kind == .activation ? "/aquant" : "/wquant") }
}

/// A conv-like layer for the shift rules: [compute, input, output, weight, bias].
public struct NodeGroup: Sendable, Codable, Equatable {
    public let compute, input, output, weight: String
    public let bias: String?
}

public struct QuantizePlan: Sendable, Codable, Equatable {
    public var tensors: [QuantTensor]
    public var groups: [NodeGroup]

    public func index(of node: String) -> Int? { tensors.firstIndex { $0.node == node } }
}

/// Which tensors get a FixNeuron (spec 3.4-3.5): the pattern table matched in order, earlier
/// matches winning, then the location fixpoint (a non-compute pattern is quantized only once its
/// inputs are), then activation quantizers on the unquantized inputs of compute patterns and
/// concatenations.
public enum Locator {
    struct Match {
        let pattern: QuantizePattern
        let isCompute: Bool
        /// Nodes owned by the match (the conv, its bias add and activation, ...).
        let owned: [String]
        /// Tensors that must be quantized before a non-compute match applies.
        let inputs: [String]
        let quantize: [(node: String, kind: TensorKind, mode: QuantizeMode)]
        let group: NodeGroup?
    }

    public static func locate(_ graph: Tensorflow_GraphDef, _ config: QuantizeConfig) -> QuantizePlan {
        let g = GraphEdit(graph, path: "")
        var consumers: [String: [String]] = [:]
        for node in g.nodes { for input in g.inputs(of: node) { consumers[input, default: []].append(node.name) } }
        func op(_ name: String) -> TFOp? { g[name]?.tfOp }
        func isConst(_ name: String) -> Bool { op(name) == .const }
        func follower(_ name: String, _ ops: Set<TFOp>, _ where_: (Tensorflow_NodeDef) -> Bool = { _ in true }) -> Tensorflow_NodeDef? {
            (consumers[name] ?? []).compactMap { g[$0] }.first { ops.contains($0.tfOp) && where_($0) }
        }

        var matches: [Match] = []
        for node in g.nodes where node.tfOp == .placeholder {
            matches.append(Match(pattern: .input, isCompute: false, owned: [node.name], inputs: [], quantize: [(node.name, .activation, .activation)], group: nil))
        }
        // Conv-like layers: convfc / conv2d_backprop_input with optional bias and activation.
        for node in g.nodes where TFOp.convolutionOps.contains(node.tfOp) {
            let ins = g.inputs(of: node)
            guard ins.count >= 2, isConst(ins[1]) else { continue }
            let x = node.tfOp == .conv2DBackpropInput ? ins[2] : ins[0]
            var owned = [node.name], last = node.name
            var bias: String? = nil
            if let add = follower(node.name, TFOp.biasAddOps, { g.inputs(of: $0).count == 2 && isConst(g.inputs(of: $0)[1]) && g.inputs(of: $0)[0] == node.name }) {
                bias = g.inputs(of: add)[1]
                owned.append(add.name)
                last = add.name
            }
            var leaky = false
            if let act = follower(last, TFOp.convolutionActivationOps) {
                leaky = act.tfOp == .leakyRelu
                owned.append(act.name)
                last = act.name
            }
            let depthwise = node.tfOp == .depthwiseConv2dNative && !leaky
            var q: [(String, TensorKind, QuantizeMode)] = [(ins[1], .weight, depthwise ? .depthwiseWeight : .weight)]
            if let bias { q.append((bias, .bias, .weight)) }
            q.append((last, .activation, .activation))
            matches.append(Match(pattern: .convolution, isCompute: true, owned: owned, inputs: [x], quantize: q,
                                 group: NodeGroup(compute: node.name, input: x, output: last, weight: ins[1], bias: bias)))
        }
        // DPU-simulation patterns: hard swish / hard sigmoid (after simulate_dpu's scale Mul) and AvgPool's scale.
        func hardSigmoid(_ name: String) -> (nodes: [String], input: String)? {
            guard let outer = g[name], outer.tfOp == .mul, name.hasSuffix("/vitis_hard_sigmoid_mul"), let div = g[g.inputs(of: outer)[0]],
                  TFOp.scalingOps.contains(div.tfOp), let relu = g[g.inputs(of: div)[0]], relu.tfOp == .relu6,
                  let add = g[g.inputs(of: relu)[0]], TFOp.addOps.contains(add.tfOp) else { return nil }
            return ([outer.name, div.name, relu.name, add.name], g.inputs(of: add)[0])
        }
        for node in g.nodes where node.tfOp == .mul {
            let ins = g.inputs(of: node)
            guard ins.count == 2, let hs = ins.lazy.compactMap(hardSigmoid).first else { continue }
            let x = ins.first { hardSigmoid($0) == nil } ?? hs.input
            matches.append(Match(pattern: .hardSwish, isCompute: false, owned: [node.name] + hs.nodes, inputs: [x],
                                 quantize: [(node.name, .activation, .activation), (hs.nodes[0], .activation, .activation)], group: nil))
        }
        for node in g.nodes {
            guard let hs = hardSigmoid(node.name) else { continue }
            matches.append(Match(pattern: .hardSigmoid, isCompute: false, owned: hs.nodes, inputs: [hs.input],
                                 quantize: [(node.name, .activation, .activation)], group: nil))
        }
        for node in g.nodes where node.tfOp == .mul {
            let ins = g.inputs(of: node)
            guard ins.count == 2, let pool = g[ins[0]], pool.tfOp == .avgPool, isConst(ins[1]) else { continue }
            matches.append(Match(pattern: .avgPoolScale, isCompute: false, owned: [pool.name, node.name], inputs: [g.inputs(of: pool)[0]],
                                 quantize: [(node.name, .activation, .activation)], group: nil))
        }
        // Swish / SiLU: Mul(x, Sigmoid(x)), either order; Keras writes Sigmoid(Mul(beta, x)) with a
        // constant beta, which must be 1 here (another beta is no swish the DPU knows).
        func sigmoidInput(_ sigmoid: Tensorflow_NodeDef) -> String? {
            guard let s = g.inputs(of: sigmoid).first else { return nil }
            guard let scale = g[s], scale.tfOp == .mul else { return s }
            let ins = g.inputs(of: scale)
            guard ins.count == 2, let c = ins.first(where: isConst), let x = ins.first(where: { !isConst($0) }),
                  let beta = g.constant(c), beta.elementCount == 1, beta.floatValues().first == 1 else { return s }
            return x
        }
        for node in g.nodes where node.tfOp == .mul {
            let ins = g.inputs(of: node)
            guard ins.count == 2 else { continue }
            for (x, other) in [(ins[0], ins[1]), (ins[1], ins[0])] {
                guard let sigmoid = g[other], sigmoid.tfOp == .sigmoid, sigmoidInput(sigmoid) == x else { continue }
                var owned = [node.name, sigmoid.name]
                if let s = g.inputs(of: sigmoid).first, s != x { owned.append(s) }
                matches.append(Match(pattern: .swish, isCompute: false, owned: owned, inputs: [x],
                                     quantize: [(node.name, .activation, .activation), (sigmoid.name, .activation, .activation),
                                                (x, .activation, .activation)], group: nil))
                break
            }
        }
        // Unfolded batch norm: Add(Mul(x, scale), offset) [+ Relu].
        for node in g.nodes where TFOp.biasAddOps.contains(node.tfOp) {
            let ins = g.inputs(of: node)
            guard ins.count == 2, isConst(ins[1]), let mul = g[ins[0]], mul.tfOp == .mul else { continue }
            let mins = g.inputs(of: mul)
            guard mins.count == 2, isConst(mins[1]), !isConst(mins[0]) else { continue }
            var owned = [mul.name, node.name], last = node.name
            if let act = follower(node.name, TFOp.reluOps) { owned.append(act.name); last = act.name }
            matches.append(Match(pattern: .batchNorm, isCompute: false, owned: owned, inputs: [mins[0]],
                                 quantize: [(mins[1], .weight, .weight), (ins[1], .bias, .weight), (last, .activation, .activation)],
                                 group: NodeGroup(compute: mul.name, input: mins[0], output: last, weight: mins[1], bias: ins[1])))
        }
        // Element-wise: array_relu, mul with a constant, array.
        for node in g.nodes where TFOp.elementwiseOps.contains(node.tfOp) {
            let ins = g.inputs(of: node)
            guard ins.count == 2 else { continue }
            var owned = [node.name], last = node.name
            if let act = follower(node.name, TFOp.reluOps) { owned.append(act.name); last = act.name }
            if node.tfOp == .mul, let c = ins.first(where: isConst), let x = ins.first(where: { !isConst($0) }) {
                matches.append(Match(pattern: .mulConstant, isCompute: false, owned: owned, inputs: [x],
                                     quantize: [(last, .activation, .activation), (c, .activation, .activation)], group: nil))
            } else {
                matches.append(Match(pattern: .elementwise, isCompute: false, owned: owned, inputs: ins, quantize: [(last, .activation, .activation)], group: nil))
            }
        }
        // A LeakyRelu op on its own (fused_leakyrelu): output quantized, alpha stays an attribute.
        for node in g.nodes where TFOp.singleInputPatternOps.contains(node.tfOp) {
            matches.append(Match(pattern: node.tfOp == .leakyRelu ? .leakyRelu : .resize, isCompute: false, owned: [node.name], inputs: [g.inputs(of: node)[0]],
                                 quantize: [(node.name, .activation, .activation)], group: nil))
        }
        for node in g.nodes where TFOp.otherPatternOps.contains(node.tfOp) {
            // The reference's "inputs": all but the last (drops axes, shapes, paddings; single-input ops: none).
            let ins = Array(g.inputs(of: node).dropLast())
            var owned = [node.name], last = node.name
            if !TFOp.reluOps.contains(node.tfOp), let act = follower(node.name, TFOp.reluOps) { owned.append(act.name); last = act.name }
            matches.append(Match(pattern: .other, isCompute: false, owned: owned, inputs: ins, quantize: [(last, .activation, .activation)], group: nil))
        }

        // A strategy's quantized part (input_layers / output_layers): optimize marked the nodes
        // outside it float; none of their tensors is quantized, but the input layers' outputs,
        // which are the part's inputs, quantized as model inputs are.
        let floatNodes = Set(g.nodes.filter { $0.attr[QuantizedPart.floatAttribute]?.b == true }.map(\.name))
        let partInputs = Set(g.nodes.filter { $0.attr[QuantizedPart.inputAttribute]?.b == true }.map(\.name))
        if !floatNodes.isEmpty {
            matches.removeAll { $0.owned.contains(where: floatNodes.contains) }
            for node in g.nodes where partInputs.contains(node.name) {
                matches.insert(Match(pattern: .input, isCompute: false, owned: [node.name], inputs: [],
                                     quantize: [(node.name, .activation, .activation)], group: nil), at: 0)
            }
        }

        // Earlier matches win: drop a match owning a node an accepted one owns.
        var claimed = Set<String>()
        var accepted: [Match] = []
        for m in matches where !m.owned.contains(where: claimed.contains) {
            accepted.append(m)
            claimed.formUnion(m.owned)
        }
        accepted.removeAll { m in m.owned.contains(where: config.ignoreNodes.contains) }

        var plan = QuantizePlan(tensors: [], groups: [])
        func isFloat(_ name: String) -> Bool {
            guard let node = g[name] else { return false }
            let t = node.attr["T"]?.type ?? node.attr["dtype"]?.type ?? .dtFloat
            return t.baseType == .dtFloat
        }
        /// `layer`: the op type of the layer the tensor belongs to (its match's main node, or for
        /// an input quantized on behalf of a compute layer, the op that produces it).
        func add(_ node: String, _ kind: TensorKind, _ mode: QuantizeMode, layer: String?, placeholder: Bool = false) {
            guard plan.index(of: node) == nil, isFloat(node) else { return }
            let l = layer.flatMap { config.layers[$0] }
            var bits: Int, method = placeholder ? config.inputMethod : config.method
            switch kind {
            case .activation:
                bits = l?.activationBit ?? config.activationBit
                if !placeholder, let m = config.activationMethod { method = m }
                if let m = l?.activationMethod { method = m }
            case .weight:
                bits = l?.weightBit ?? config.weightBit
                if let m = l?.weightMethod ?? config.weightMethod { method = m }
            case .bias:
                // A layer's weight override leaves its bias alone: only a bias block or bias_bit moves it.
                bits = l?.biasBit ?? config.biasBit ?? config.weightBit
                if let m = l?.biasMethod ?? config.biasMethod { method = m }
            }
            if let b = config.nodesBit[node] { bits = b }
            if let m = config.nodesMethod[node].flatMap(PositionMethod.init(rawValue:)) { method = m }
            if method == .minDiffsDepthwise && mode != .depthwiseWeight { method = .minDiffs }
            plan.tensors.append(QuantTensor(node: node, kind: kind, mode: mode, method: method, bitWidth: bits))
        }
        func quantized(_ name: String) -> Bool { plan.tensors.contains { $0.node == name && $0.kind == .activation } }
        var applied = Set<Int>()
        var changed = true
        while changed {
            changed = false
            for (k, m) in accepted.enumerated() where !applied.contains(k) && (m.isCompute || m.inputs.allSatisfy(quantized)) {
                guard m.owned.allSatisfy(isFloat) else { applied.insert(k); continue }
                for q in m.quantize { add(q.node, q.kind, q.mode, layer: g[m.owned[0]]?.op, placeholder: m.pattern == .input) }
                if let group = m.group { plan.groups.append(group) }
                applied.insert(k)
                changed = true
            }
        }
        for (k, m) in accepted.enumerated() where m.isCompute || (m.pattern == .other && TFOp.concatOps.contains(op(m.owned[0]))) {
            _ = k
            for input in m.inputs where !quantized(input) && isFloat(input) && (!floatNodes.contains(input) || partInputs.contains(input)) {
                add(input, .activation, .activation, layer: g[input]?.op)
            }
        }
        // nodes_bit / nodes_method naming a compute node apply to its weights.
        for group in plan.groups {
            if let i = plan.index(of: group.weight) {
                if let b = config.nodesBit[group.compute] { plan.tensors[i].bitWidth = b }
                if let m = config.nodesMethod[group.compute].flatMap(PositionMethod.init(rawValue:)) {
                    plan.tensors[i].method = m == .minDiffsDepthwise && plan.tensors[i].mode != .depthwiseWeight ? .minDiffs : m
                }
            }
        }
        return plan
    }
}
