import Foundation
import GraphIR
import Quantizer
import Runtime
import TFProto
import TensorFlowIO
import Tensors

/// Per node, one `BatchStatistics` per calibration batch.
public struct CalibrationStatistics: Sendable, Codable, Equatable {
    public var batches: Int
    /// The activation bit widths whose min-diffs errors were kept (`BatchStatistics.bitWidths`).
    public var bitWidths: [Int] = []
    public var tensors: [String: [BatchStatistics]]
    /// |x| histograms over all batches (for the float-scale strategies' KL and percentile ranges;
    /// empty when no strategy sharing the calibration needs them).
    public var histograms: [String: AbsHistogram] = [:]
}

/// Calibration, position adjustments and the written models.
///
/// Calibration runs the optimized graph in float (vaiq-build's design: statistics that do not
/// depend on any bit width upstream, so one float pass serves a whole matrix) and takes, per
/// quantized tensor, each batch's position with the tensor's method; the final position is the
/// most frequent one, ties to the smallest (the reference's histogram rule). The reference
/// instead feeds each batch's already-quantized activations forward during calibration, so a
/// layer's statistics there include upstream quantization noise; positions can differ where a
/// tensor's range sits at a power-of-two boundary.
public enum PostTrainingQuantizer {
    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Float calibration: every tensor any strategy could quantize (the activations the pattern
    /// table places with default settings, and the inputs of every conv-like layer; per-node
    /// settings only ever remove tensors from that set), in every batch, summarized as
    /// `BatchStatistics` (enough for any bit width, method and activation range). The result
    /// depends on no strategy field.
    /// `timing` receives the seconds spent summarizing values (`statistics`) and running the
    /// model (`inference`), once at the end.
    /// `graph` is consumed: its weights are freed once imported, before the runtime plans its own copies.
    public static func calibrate(_ graph: consuming Tensorflow_GraphDef, outputNodes: [String], batches: [[String: Tensor]],
                                 bitWidths: [Int] = Array(1...BatchStatistics.maxBits), narrowErrors: Bool = true, histograms: Bool = true,
                                 threads: Int, path: String,
                                 timing: (_ inference: Double, _ statistics: Double) -> Void = { _, _ in },
                                 progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> CalibrationStatistics {
        let clock = ContinuousClock()
        let keepHistograms = histograms
        var summarizing = Duration.zero, total = Duration.zero
        let observed = observedTensors(graph)
        let imported = try GraphImporter.importGraph(graph, outputs: outputNodes, path: path)
        _ = consume graph
        let runtime = Runtime(graph: imported.graph, outputs: Array(zip(outputNodes, imported.outputs)),
                              options: PlanOptions(preserve: observed))
        var statistics = CalibrationStatistics(batches: batches.count, bitWidths: Set(bitWidths).sorted(), tensors: [:])
        for (b, batch) in batches.enumerated() {
            nonisolated(unsafe) var seen: [String: BatchStatistics] = [:]
            nonisolated(unsafe) var histograms = statistics.histograms
            nonisolated(unsafe) var nonFinite: (node: String, index: Int, value: Float)?
            nonisolated(unsafe) var summary = Duration.zero
            let start = clock.now
            _ = try runtime.run(batch, threads: threads) { name, _, values in
                guard observed.contains(name), nonFinite == nil else { return }
                let began = clock.now
                defer { summary += clock.now - began }
                // A NaN or infinity has no position: say where it came from instead of computing one.
                guard let stats = BatchStatistics(ifFinite: values, bitWidths: bitWidths, narrow: narrowErrors, threads: threads) else {
                    let i = values.firstIndex { !$0.isFinite }!
                    nonFinite = (name, i, values[i])
                    return
                }
                seen[name] = stats
                if keepHistograms { histograms[name, default: AbsHistogram()].add(values) }
            }
            total += clock.now - start
            summarizing += summary
            if let bad = nonFinite {
                throw Failure(message: "\(path): calibration batch \(b + 1) of \(batches.count): node '\(bad.node)' computes \(bad.value) "
                              + "(element \(bad.index)); positions need finite values: check the calibration data and the model")
            }
            statistics.histograms = histograms
            for (name, stats) in seen { statistics.tensors[name, default: []].append(stats) }
            progress(b + 1, batches.count)
        }
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        timing(seconds(total - summarizing), seconds(summarizing))
        return statistics
    }

    /// Final positions: weights and biases from their values (the reference's exact search),
    /// activations as the most frequent per-batch position (ties to the smallest).
    public static func positions(_ plan: QuantizePlan, graph: Tensorflow_GraphDef, statistics: CalibrationStatistics,
                                 narrowActivations: Bool, path: String) throws -> QuantizePlan {
        var plan = plan
        let edit = GraphEdit(graph, path: path)
        for (i, t) in plan.tensors.enumerated() {
            if let constant = edit.constant(t.node) {
                let q = Pof2Quantizer(bitWidth: t.bitWidth, mode: t.mode, narrowActivations: narrowActivations)
                let values = constant.floatValues()
                if let bad = values.firstIndex(where: { !$0.isFinite }) {
                    throw Failure(message: "\(path): node '\(t.node)' holds \(values[bad]) (element \(bad)); its \(t.kind.rawValue) position needs finite values")
                }
                plan.tensors[i].position = q.position(values, method: t.method)
                continue
            }
            guard let batches = statistics.tensors[t.node], !batches.isEmpty else {
                throw Failure(message: "\(path): node '\(t.node)' is to be quantized but calibration never computed it")
            }
            if t.method != .nonOverflow && !statistics.bitWidths.contains(t.bitWidth) {
                throw Failure(message: "\(path): node '\(t.node)' is quantized to \(t.bitWidth) bits, but calibration kept errors for bit widths \(statistics.bitWidths) only")
            }
            if t.method != .nonOverflow && narrowActivations && !batches.allSatisfy(\.keepsNarrowErrors) {
                throw Failure(message: "\(path): node '\(t.node)' is quantized for the narrow activation range (DPUCADF8H), but calibration kept errors for the DEFAULT range only")
            }
            var histogram = PositionHistogram()
            for b in batches { histogram.add(b.position(bits: t.bitWidth, method: t.method, narrow: narrowActivations)) }
            plan.tensors[i].position = histogram.mode
        }
        return plan
    }

    /// The position rules of spec section 5, in the reference's order: align_concat, align_pool,
    /// shift_cut, shift_bias. `config.alignRule` chooses the shared position of the align rules
    /// (min: vai_q_tensorflow2's, still before the shift rules, so they see the final positions).
    public static func adjust(_ plan: QuantizePlan, graph: Tensorflow_GraphDef, config: QuantizeConfig, outputNodes: [String]) -> QuantizePlan {
        var plan = plan
        let g = GraphEdit(graph, path: "")
        func activation(_ node: String) -> Int? { plan.tensors.firstIndex { $0.node == node && $0.kind == .activation } }
        func set(_ i: Int, _ position: Int, _ why: String) {
            if plan.tensors[i].position != position {
                plan.tensors[i].position = position
                plan.tensors[i].adjustedBy.append(why)
            }
        }
        // The tensors each aligned concat or pool ties together: (anchor, members). Under tf1 every
        // member takes the anchor's position; under min all take the smallest of theirs.
        var ties: [(anchor: Int, members: [Int], why: String)] = []
        if config.alignConcat != 2 {
            for node in g.nodes where TFOp.concatOps.contains(node.tfOp) && (config.alignConcat == 0 || outputNodes.contains(node.name)) {
                guard let c = activation(node.name), plan.tensors[c].position != nil else { continue }
                var members: [Int] = []
                for input in g.inputs(of: node).dropLast() {
                    var cur: String? = input
                    while let name = cur {
                        if let i = activation(name) { members.append(i) }
                        guard let n = g[name], Set<TFOp>([.reshape, .expandDims]).contains(n.tfOp) else { break }
                        cur = g.inputs(of: n).first
                    }
                }
                ties.append((c, members, "align_concat(\(node.name))"))
            }
        }
        if config.alignPool != 2 {
            for node in g.nodes {
                // A MaxPool, or the scale Mul of an AvgPool (DPU simulation): its input takes its position.
                var pool = node
                if node.tfOp == .mul, let first = g.inputs(of: node).first, let avg = g[first], avg.tfOp == .avgPool { pool = avg }
                guard pool.tfOp == .maxPool || (pool.tfOp == .avgPool && node.tfOp == .mul),
                      config.alignPool == 0 || outputNodes.contains(pool.name),
                      let o = activation(node.name), plan.tensors[o].position != nil, let input = g.inputs(of: pool).first,
                      let i = activation(input) else { continue }
                ties.append((o, [i], "align_pool(\(pool.name))"))
            }
        }
        for tie in ties {
            for i in tie.members { plan.tensors[i].alignedWith = plan.tensors[tie.anchor].node }
        }
        switch config.alignRule {
        case .tf1:
            for tie in ties {
                let p = plan.tensors[tie.anchor].position!
                for i in tie.members { set(i, p, tie.why) }
            }
        case .min:
            // Positions only decrease, so this ends; a tensor shared by two ties takes the smaller.
            var changed = true
            while changed {
                changed = false
                for tie in ties {
                    let all = [tie.anchor] + tie.members
                    guard let m = all.compactMap({ plan.tensors[$0].position }).min() else { continue }
                    for i in all where plan.tensors[i].position.map({ $0 > m }) ?? false {
                        set(i, m, tie.why)
                        changed = true
                    }
                }
            }
        }
        for group in plan.groups {
            guard let ii = activation(group.input), let oi = activation(group.output), let wi = plan.index(of: group.weight),
                  let ipos = plan.tensors[ii].position, let opos = plan.tensors[oi].position, let wpos = plan.tensors[wi].position else { continue }
            if config.adjustShiftCut {
                let cut = wpos + ipos - opos
                if cut < 0 { set(wi, opos - ipos, "shift_cut(\(group.compute)) >= 0") }
                if cut > 16 { set(wi, 16 + opos - ipos, "shift_cut(\(group.compute)) <= 16") }
            }
            guard config.adjustShiftBias != 0, let b = group.bias, let bi = plan.index(of: b), let bpos = plan.tensors[bi].position,
                  let w = plan.tensors[wi].position else { continue }
            let minShiftBias: Int
            if config.adjustShiftBias == 2 {
                // Dynamic: the accumulator grows with the reduction length kh * kw * ic.
                guard let length = reductionLength(g, group) else { continue }
                minShiftBias = min(0, Int(Foundation.log2(Double(length)).rounded(.up)) - 16)
            } else {
                minShiftBias = min(0, (w + ipos - opos) - 16)
            }
            let shiftBias = w + ipos - bpos
            if shiftBias < minShiftBias { set(bi, w + ipos - minShiftBias, "shift_bias(\(group.compute)) >= \(minShiftBias)") }
            if shiftBias > 16 { set(bi, w + ipos - 16, "shift_bias(\(group.compute)) <= 16") }
        }
        // 5.7 (last, as in the reference): a DPU hard sigmoid needs
        // its input position >= 0 and its output position >= 7.
        do {
            for node in g.nodes where node.name.hasSuffix("/vitis_hard_sigmoid_mul") {
                guard let o = activation(node.name), let div = g[g.inputs(of: node)[0]], let relu = g[g.inputs(of: div)[0]],
                      let add = g[g.inputs(of: relu)[0]], let input = g.inputs(of: add).first else { continue }
                if let p = plan.tensors[o].position, p < 7 { set(o, 7, "hard_sigmoid output >= 7") }
                if let i = activation(input), let p = plan.tensors[i].position, p < 0 { set(i, 0, "hard_sigmoid input >= 0") }
            }
        }
        return plan
    }

    /// kh * kw * ic of a group's weights for dynamic shift_bias (spec 5.6): dims 0-2 of a conv's
    /// weights; for MatMul the input length K factored into three bounded factors (h < 16,
    /// w < 16, c < 4096; primes ascending, round-robin), nil when it does not factor so.
    static func reductionLength(_ g: GraphEdit, _ group: NodeGroup) -> Int? {
        guard let conv = g[group.compute], let w = g.constant(group.weight) else { return nil }
        switch conv.tfOp {
        case .conv2D?, .depthwiseConv2dNative?, .conv2DBackpropInput?:
            return w.rank == 4 ? w.shape[0] * w.shape[1] * w.shape[2] : nil
        case .matMul?:
            guard w.rank == 2 else { return nil }
            var k = w.shape[0], primes: [Int] = [], d = 2
            while k > 1 && d * d <= k { while k % d == 0 { primes.append(d); k /= d }; d += 1 }
            if k > 1 { primes.append(k) }
            guard primes.count >= 3 else { return nil }
            var factors = [1, 1, 1]
            let bounds = [16, 16, 4096]
            var next = 0
            for p in primes {
                var placed = false
                for attempt in 0..<3 {
                    let f = (next + attempt) % 3
                    if factors[f] * p < bounds[f] {
                        factors[f] *= p
                        next = (f + 1) % 3
                        placed = true
                        break
                    }
                }
                if !placed { return nil }
            }
            return factors.reduce(1, *)
        default:
            return nil
        }
    }

    /// The optimized range with the graph around it (`Optimizer.auxiliary`) put back: input nodes
    /// regain their original definitions, pre- and post-processing nodes follow in float.
    public static func merge(_ main: Tensorflow_GraphDef, aux: Tensorflow_GraphDef) -> Tensorflow_GraphDef {
        guard !aux.node.isEmpty else { return main }
        var byName: [String: Tensorflow_NodeDef] = [:]
        for node in aux.node { byName[node.name] = node }
        var merged = main
        var used = Set<String>()
        for i in merged.node.indices where merged.node[i].tfOp == .placeholder {
            if let original = byName[merged.node[i].name] {
                merged.node[i] = original
                used.insert(original.name)
            }
        }
        merged.node += aux.node.filter { !used.contains($0.name) }
        // An aux node's control inputs on main nodes that optimizing removed (Keras's frozen
        // graphs end in a NoOp that waits on every ReadVariableOp, which fold into the convs) are
        // moot: drop them, or TensorFlow refuses the whole file.
        let present = Set(merged.node.map(\.name))
        let auxNames = Set(aux.node.map(\.name))
        for i in merged.node.indices where auxNames.contains(merged.node[i].name) {
            merged.node[i].input.removeAll { $0.hasPrefix("^") && !present.contains(String($0.dropFirst())) }
        }
        return merged
    }

    /// `quantize_eval_model.pb`: the optimized graph with a FixNeuron (phase 1, its final position)
    /// after every quantized tensor, consumers rewired to it, as vai_q_tensorflow writes it.
    /// Without `keepFloatWeight` the weights and biases are stored already on their grid (the
    /// FixNeuron after them then changes nothing), as a DPU holds them.
    public static func evalModel(_ graph: Tensorflow_GraphDef, plan: QuantizePlan, keepFloatWeight: Bool = true,
                                 narrowActivations: Bool = false) -> Tensorflow_GraphDef {
        var g = GraphEdit(graph, path: "")
        for t in plan.tensors {
            guard let at = g.index(t.node) else { continue }
            if !keepFloatWeight, t.kind != .activation, let p = t.position, let constant = g.constant(t.node) {
                let q = Pof2Quantizer(bitWidth: t.bitWidth, mode: t.mode, narrowActivations: narrowActivations)
                g.setConstant(t.node, q.quantize(constant.floatValues(), position: p), shape: constant.shape)
            }
            var fix = Tensorflow_NodeDef()
            fix.name = t.fixNeuronName
            fix.op = TFOp.fixNeuron.rawValue
            fix.input = [t.node]
            fix.attr["T"] = attrType(.dtFloat)
            fix.attr["bit_width"] = attrInt(t.bitWidth)
            fix.attr["method"] = attrInt(t.method.rawValue)
            fix.attr["mode"] = attrInt(t.mode.rawValue)
            fix.attr["phase"] = attrInt(1)
            fix.attr["output_dir"] = attrString("")
            fix.attr["quantize_pos"] = attrInt(t.position ?? 0)
            g.replaceUses(of: t.node, with: fix.name)
            g.nodes.insert(fix, at: at + 1)
        }
        return g.graphDef
    }

    /// The same model in stock TensorFlow ops: weights and biases stored already quantized
    /// (round half away from zero, as FixNeuron does), activations through
    /// FakeQuantWithMinMaxVars with min = qmin * 2^-p and max = qmax * 2^-p, whose round-half-up
    /// equals the DPU's activation rounding (to within one step where float32 subtraction rounds).
    public static func stockModel(_ graph: Tensorflow_GraphDef, plan: QuantizePlan, narrowActivations: Bool) -> Tensorflow_GraphDef {
        var g = GraphEdit(graph, path: "")
        for t in plan.tensors {
            guard let at = g.index(t.node), let p = t.position else { continue }
            let q = Pof2Quantizer(bitWidth: t.bitWidth, mode: t.mode, narrowActivations: narrowActivations)
            if let constant = g.constant(t.node), t.kind != .activation {
                g.setConstant(t.node, q.quantize(constant.floatValues(), position: p), shape: constant.shape)
                continue
            }
            let step = Float(sign: .plus, exponent: -p, significand: 1)
            let name = t.fixNeuronName
            g.replaceUses(of: t.node, with: name)
            var fake = Tensorflow_NodeDef()
            fake.name = name
            fake.op = TFOp.fakeQuantWithMinMaxVars.rawValue
            fake.input = [t.node, "\(name)/min", "\(name)/max"]
            fake.attr["num_bits"] = attrInt(t.bitWidth)
            fake.attr["narrow_range"] = attrBool(narrowActivations)
            g.nodes.insert(fake, at: at + 1)
            g.addConstant("\(name)/min", [q.integerRange.lowerBound * step], shape: [], before: at + 1)
            g.addConstant("\(name)/max", [q.integerRange.upperBound * step], shape: [], before: at + 2)
        }
        return g.graphDef
    }
}

/// Quantize-aware training graphs (spec 7.4/8, in stock TensorFlow ops).
extension PostTrainingQuantizer {
    /// `quantize_train_graph.pb`, its float twin `qat_inference_graph.pb`, and the evaluation graph
    /// (the same variables with FixNeurons: `quantize_eval_graph.pb`). Both are the
    /// optimized graph (batch norms folded) with every quantized weight and bias turned back into
    /// a variable (`W` VariableV2, `W/initial_value`, `W/Assign`, `W/read`, and an `init` op that
    /// assigns them all), so TensorFlow can train them after `import_graph_def` and save them
    /// under their own names. The training graph also quantizes, through
    /// FakeQuantWithMinMaxVars (straight-through gradient inside the range), every tensor of the
    /// plan at its calibrated position. A checkpoint of these variables plus
    /// `qat_inference_graph.pb` is an ordinary model for `vaiq-build` to freeze and quantize.
    ///
    /// With `thresholds` (pof2s_tqt: initial log2 thresholds by FixNeuron name, see
    /// `TrainedThresholds.initial`) each quantizer is instead a TQT quantizer in stock ops with a
    /// trainable `<FixNeuron>/log_th` variable (`TrainedThresholds`, `tqtQuantizer`).
    public static func trainingGraphs(_ graph: Tensorflow_GraphDef, plan: QuantizePlan, narrowActivations: Bool,
                                      thresholds: [String: Float]? = nil, ties: [String: String] = [:])
        -> (train: Tensorflow_GraphDef, inference: Tensorflow_GraphDef, eval: Tensorflow_GraphDef) {
        var inference = GraphEdit(graph, path: "")
        var assigns: [String] = []
        for t in plan.tensors where t.kind != .activation {
            guard let at = inference.index(t.node), let value = inference.constant(t.node) else { continue }
            let name = t.node
            var variable = Tensorflow_NodeDef()
            variable.name = name
            variable.op = TFOp.variableV2.rawValue
            variable.attr["dtype"] = attrType(.dtFloat)
            var shape = Tensorflow_AttrValue()
            shape.shape = Tensorflow_TensorShapeProto(dims: value.shape)
            variable.attr["shape"] = shape
            variable.attr["container"] = attrString("")
            variable.attr["shared_name"] = attrString("")
            var initial = Tensorflow_NodeDef()
            initial.name = "\(name)/initial_value"
            initial.op = TFOp.const.rawValue
            initial.attr["dtype"] = attrType(.dtFloat)
            initial.attr["value"] = attrTensor(value, reusing: inference.nodes[at].attr["value"]?.tensor)
            var assign = Tensorflow_NodeDef()
            assign.name = "\(name)/Assign"
            assign.op = TFOp.assign.rawValue
            assign.input = [name, initial.name]
            assign.attr["T"] = attrType(.dtFloat)
            assign.attr["use_locking"] = attrBool(true)
            assign.attr["validate_shape"] = attrBool(true)
            var read = Tensorflow_NodeDef()
            read.name = "\(name)/read"
            read.op = TFOp.identity.rawValue
            read.input = [name]
            read.attr["T"] = attrType(.dtFloat)
            inference.replaceUses(of: name, with: read.name)
            inference.nodes[at] = variable
            inference.nodes.insert(contentsOf: [initial, assign, read], at: at + 1)
            assigns.append(assign.name)
        }
        var initOp = Tensorflow_NodeDef()
        initOp.name = inference.freshName("init")
        initOp.op = TFOp.noOp.rawValue
        initOp.input = assigns.map { "^\($0)" }
        inference.nodes.append(initOp)

        // The training graph: fake quantization after every quantized tensor (weights via their read).
        var train = inference
        for t in plan.tensors {
            guard let p = t.position else { continue }
            let source = t.kind == .activation ? t.node : "\(t.node)/read"
            guard let at = train.index(source) else { continue }
            let q = Pof2Quantizer(bitWidth: t.bitWidth, mode: t.mode, narrowActivations: narrowActivations)
            let step = Float(sign: .plus, exponent: -p, significand: 1)
            let name = t.fixNeuronName
            train.replaceUses(of: source, with: name)
            if let thresholds {
                let logTh = thresholds[name] ?? Float(t.bitWidth - 1 - p) - 0.5
                let shared = ties[name].map { TrainedThresholds.variableName($0) + "/read" }
                let nodes = tqtQuantizer(name: name, source: source, bits: t.bitWidth, range: q.integerRange,
                                         roundHalfUp: t.mode == .activation, initialLogThreshold: logTh, sharedThreshold: shared)
                train.nodes.insert(contentsOf: nodes, at: at + 1)
                if shared == nil {
                    let initIndex = train.index(initOp.name)!
                    train.nodes[initIndex].input.append("^\(TrainedThresholds.variableName(name))/Assign")
                }
                continue
            }
            var fake = Tensorflow_NodeDef()
            fake.name = name
            fake.op = TFOp.fakeQuantWithMinMaxVars.rawValue
            fake.input = [source, "\(name)/min", "\(name)/max"]
            fake.attr["num_bits"] = attrInt(t.bitWidth)
            fake.attr["narrow_range"] = attrBool(t.mode == .activation && narrowActivations)
            train.nodes.insert(fake, at: at + 1)
            train.addConstant("\(name)/min", [q.integerRange.lowerBound * step], shape: [], before: at + 1)
            train.addConstant("\(name)/max", [q.integerRange.upperBound * step], shape: [], before: at + 2)
        }
        // The evaluation graph (the reference's quantize_eval_graph): variables kept, FixNeurons at the positions.
        var evalPlan = plan
        for i in evalPlan.tensors.indices where evalPlan.tensors[i].kind != .activation {
            evalPlan.tensors[i] = QuantTensor(node: "\(plan.tensors[i].node)/read", kind: plan.tensors[i].kind, mode: plan.tensors[i].mode,
                                              method: plan.tensors[i].method, bitWidth: plan.tensors[i].bitWidth,
                                              position: plan.tensors[i].position)
        }
        return (train.graphDef, inference.graphDef, evalModel(inference.graphDef, plan: evalPlan))
    }

    /// A TQT quantizer (spec 9.6) in stock TensorFlow ops, named under `name/` and ending in the
    /// node `name` (a RealDiv): with c = ceil(log_th) through a straight-through estimator and
    /// s = 2^(b - 1 - c),
    ///
    ///     y = clamp(x*s + stop_gradient(round(x*s) - x*s), qmin, qmax) / s
    ///
    /// whose gradients are TQT's: dy/dx = 1 where round(x*s) is in range, else 0; dy/dlog_th =
    /// ln2 * (y - x) in range and ln2 * q / s where clipped. Activations round half up
    /// (floor(t + 0.5)), weights and biases half away from zero (sign(t) * floor(|t| + 0.5)), as
    /// the written models do.
    static func tqtQuantizer(name: String, source: String, bits: Int, range: ClosedRange<Float>, roundHalfUp: Bool,
                             initialLogThreshold: Float, sharedThreshold: String? = nil) -> [Tensorflow_NodeDef] {
        var nodes: [Tensorflow_NodeDef] = []
        func op(_ suffix: String?, _ type: TFOp, _ inputs: [String]) -> String {
            var n = Tensorflow_NodeDef()
            n.name = suffix.map { "\(name)/\($0)" } ?? name
            n.op = type.rawValue
            n.input = inputs
            n.attr["T"] = attrType(.dtFloat)
            nodes.append(n)
            return n.name
        }
        func constant(_ suffix: String, _ value: Float) -> String {
            var n = Tensorflow_NodeDef()
            n.name = "\(name)/\(suffix)"
            n.op = TFOp.const.rawValue
            n.attr["dtype"] = attrType(.dtFloat)
            n.attr["value"] = attrTensor(Tensor([value], shape: []))
            nodes.append(n)
            return n.name
        }
        let variable = TrainedThresholds.variableName(name)
        var readName = "\(variable)/read"
        if let sharedThreshold {
            readName = sharedThreshold
        } else {
        var v = Tensorflow_NodeDef()
        v.name = variable
        v.op = TFOp.variableV2.rawValue
        v.attr["dtype"] = attrType(.dtFloat)
        var shape = Tensorflow_AttrValue()
        shape.shape = Tensorflow_TensorShapeProto(dims: [])
        v.attr["shape"] = shape
        v.attr["container"] = attrString("")
        v.attr["shared_name"] = attrString("")
        nodes.append(v)
        let initial = constant("log_th/initial_value", initialLogThreshold)
        var assign = Tensorflow_NodeDef()
        assign.name = "\(variable)/Assign"
        assign.op = TFOp.assign.rawValue
        assign.input = [variable, initial]
        assign.attr["T"] = attrType(.dtFloat)
        assign.attr["use_locking"] = attrBool(true)
        assign.attr["validate_shape"] = attrBool(true)
        nodes.append(assign)
        var read = Tensorflow_NodeDef()
        read.name = "\(variable)/read"
        read.op = TFOp.identity.rawValue
        read.input = [variable]
        read.attr["T"] = attrType(.dtFloat)
        nodes.append(read)
        }

        let ceil = op("ceil", .ceil, [readName])
        let ceilStep = op("ceil_sg", .stopGradient, [op("ceil_delta", .sub, [ceil, readName])])
        let c = op("ceil_ste", .addV2, [readName, ceilStep])
        let position = op("position", .sub, [constant("bits_minus_1", Float(bits - 1)), c])
        let scale = op("scale", .pow, [constant("two", 2), position])
        let scaled = op("scaled", .mul, [source, scale])
        let half = constant("half", 0.5)
        let rounded: String
        if roundHalfUp {
            rounded = op("round", .floor, [op("plus_half", .addV2, [scaled, half])])
        } else {
            let magnitude = op("floor", .floor, [op("abs_plus_half", .addV2, [op("abs", .abs, [scaled]), half])])
            rounded = op("round", .mul, [op("sign", .sign, [scaled]), magnitude])
        }
        let roundStep = op("round_sg", .stopGradient, [op("round_delta", .sub, [rounded, scaled])])
        let ste = op("round_ste", .addV2, [scaled, roundStep])
        let upper = op("clip_max", .minimum, [ste, constant("qmax", range.upperBound)])
        let clipped = op("clip_min", .maximum, [upper, constant("qmin", range.lowerBound)])
        _ = op(nil, .realDiv, [clipped, scale])
        return nodes
    }
}
