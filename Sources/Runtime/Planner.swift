import Foundation
import GraphIR
import Kernels
import Quantizer
import Tensors

/// One line naming the node, its op in the source file, and what is wrong.
public struct RuntimeError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    init(node: Node, _ reason: String) { message = "node '\(node.name)' (\(node.sourceOp)): \(reason)" }
    public var description: String { message }
}

/// What to keep visible when planning.
public struct PlanOptions: Sendable {
    /// The most bytes one planned value may take (a hostile graph's pad or resize must be an
    /// error, not an allocation of gigabytes): 4 GiB, or VAIQ_MAX_VALUE_MB; nil for no limit.
    public var maxValueBytes: Int? = PlanOptions.defaultMaxValueBytes
    public static let defaultMaxValueBytes: Int? = {
        if let text = ProcessInfo.processInfo.environment["VAIQ_MAX_VALUE_MB"], let mb = Int(text), mb > 0 { return mb << 20 }
        return 4 << 30
    }()
    /// Fuse conv/matmul with a following batch norm, per-channel scale/bias and activation.
    public var fuse = true
    /// Nodes whose own output must be observable (never fused into a later node).
    public var preserve: Set<String> = []
    /// DPUCADF8H: quantized activations saturate at -127 instead of -128 (the reference's ARCH_TYPE).
    public var narrowActivations = false
    /// Run eligible 3x3/1 Conv2Ds by Winograd F(4x4, 3x3) (filters transformed when planning);
    /// off: every Conv2D by the packed direct kernel (slower, rounding closer to a direct sum). Convs whose
    /// filter is quantized (FixNeuron/FakeQuant) are always direct, so quantized simulation keeps
    /// exact integer sums.
    public var winograd = true
    /// A plan only for its shapes (`Plan.shapesByName`): constants are not materialized and
    /// weights not packed, so planning a large model costs little time and memory; it cannot run.
    public var shapesOnly = false
    public init(fuse: Bool = true, preserve: Set<String> = [], narrowActivations: Bool = false, winograd: Bool = true,
                shapesOnly: Bool = false) {
        self.fuse = fuse
        self.preserve = preserve
        self.narrowActivations = narrowActivations
        self.winograd = winograd
        self.shapesOnly = shapesOnly
    }
}

/// Builds a `Plan` from a graph, its outputs and concrete input shapes.
struct Planner {
    let graph: Graph
    let options: PlanOptions

    /// What planning knows about each node's output 0.
    enum Info {
        case constant(Folding.Value)
        case value(slot: Int, shape: [Int])
    }

    var info: [Int: Info] = [:]
    var steps: [Step] = []
    var constants: [[Float]?] = []
    var shapes: [[Int]] = []
    var constantSlots: [Int: Int] = [:]
    var absorbed: Set<Int> = []
    var consumers: [[Int]] = []
    /// Nodes given a value although they are not placeholders (see `plan`).
    var fed: Set<Int> = []

    init(graph: Graph, options: PlanOptions) {
        self.graph = graph
        self.options = options
    }

    mutating func plan(outputs: [(name: String, ref: ValueRef)], inputShapes: [String: [Int]]) throws(RuntimeError) -> Plan {
        // A value given for a node that is not a placeholder replaces that node's output (as a
        // TensorFlow feed does): the plan starts there and nothing before it runs.
        fed = Set(inputShapes.keys.compactMap { graph.index(of: $0) }.filter { if case .input = graph[$0].op { false } else { true } })
        let needed = graph.ancestors(of: outputs.map(\.ref.node), stoppingAt: fed)
        consumers = graph.consumers()
        try foldPureConstants(needed)
        let preserved = options.preserve.union(outputs.map { graph[$0.ref.node].name })
        var planInputs: [Plan.Input] = []
        var inputSlots: [Int] = []
        /// A value the run is given: a placeholder's, or a fed node's.
        func addInput(_ i: Int, _ shape: [Int]) {
            let slot = newSlot(shape)
            info[i] = .value(slot: slot, shape: shape)
            planInputs.append(Plan.Input(name: graph[i].name, shape: shape))
            inputSlots.append(slot)
        }
        for i in needed {
            let node = graph[i]
            if fed.contains(i) {
                addInput(i, inputShapes[node.name]!)
                continue
            }
            if absorbed.contains(i) { continue }
            if case .constant? = info[i] { continue }
            for input in node.inputs where input.output != 0 {
                throw RuntimeError(node: node, "reads output \(input.output) of '\(graph[input.node].name)', which is not supported")
            }
            if case let .input(dtype, declared) = node.op {
                guard dtype == .float32 else { throw RuntimeError(node: node, "graph inputs must be float32, this one is \(dtype)") }
                guard let shape = inputShapes[node.name] else { throw RuntimeError(node: node, "no value was given for this input") }
                if let declared {
                    guard declared.count == shape.count,
                          zip(declared, shape).allSatisfy({ $0 == -1 || $0 == $1 }) else {
                        throw RuntimeError(node: node, "input shape \(shape) does not match the placeholder's shape \(declared.map { $0 == -1 ? "?" : "\($0)" })")
                    }
                }
                addInput(i, shape)
                continue
            }
            if case let .constant(tensor) = node.op {
                info[i] = .constant(Folding.Value(tensor))
                continue
            }
            let ins = node.inputs.map { info[$0.node]! }
            let allConstant = ins.allSatisfy { if case .constant = $0 { true } else { false } }
            if case let .shape(dtype) = node.op, case let .value(_, shape)? = ins.first {
                info[i] = .constant(Folding.Value(dtype: dtype, shape: [shape.count], values: shape.map(Double.init)))
                continue
            }
            if allConstant && Folding.canFold(node.op) {
                do {
                    info[i] = .constant(try Folding.evaluate(node.op, ins.map { if case let .constant(v) = $0 { v } else { fatalError() } }))
                } catch {
                    throw RuntimeError(node: node, error.reason)
                }
                continue
            }
            try lower(i, ins, preserved: preserved)
            if case let .value(_, shape)? = info[i], let limit = options.maxValueBytes {
                let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: max($1, 0)).overflow ? Int.max : $0 * max($1, 0) }
                if count > limit / 4 {
                    throw RuntimeError(node: node, "its value of shape \(shape) would take \(count.multipliedReportingOverflow(by: 4).overflow ? "more than \(Int.max)" : "\(count * 4)") bytes, "
                                       + "more than the \(limit >> 20) MB one value may take (VAIQ_MAX_VALUE_MB raises it)")
                }
            }
        }
        var planOutputs: [(String, Int)] = []
        var folded: [Int: Tensor] = [:]
        for (name, ref) in outputs {
            switch info[ref.node]! {
            case let .value(slot, _):
                planOutputs.append((name, slot))
            case let .constant(v):
                let slot = newSlot(v.shape)
                do { folded[slot] = try v.tensor() } catch { throw RuntimeError("output '\(name)': \(error.reason)") }
                planOutputs.append((name, slot))
            }
        }
        fuseExpandDepthwise(keep: Set(planOutputs.map(\.1)), preserved: preserved)
        computeReleases(keep: Set(planOutputs.map(\.1)))
        return Plan(inputs: planInputs, outputs: planOutputs, steps: steps, constants: constants, shapes: shapes,
                    inputSlots: inputSlots, foldedOutputs: folded)
    }

    /// Folds, up front, every node whose inputs are all constants (no run-time shape involved),
    /// e.g. Keras's batch-norm factors `gamma * rsqrt(var + eps)`. Fusion then sees a conv's
    /// follower parameters as constants although they come later in graph order.
    mutating func foldPureConstants(_ needed: [Int]) throws(RuntimeError) {
        for i in needed where !fed.contains(i) {
            let node = graph[i]
            if case let .constant(t) = node.op {
                info[i] = .constant(Folding.Value(t))
                continue
            }
            if case .shape = node.op { continue }
            if case let .fixNeuron(bits, position, mode) = node.op, case let .constant(v)? = info[node.inputs[0].node] {
                // A quantized weight: folded to its quantized values, so convs still see constant filters.
                let q = Pof2Quantizer(bitWidth: bits, mode: QuantizeMode(rawValue: mode) ?? .weight, narrowActivations: options.narrowActivations)
                info[i] = .constant(Folding.Value(dtype: v.dtype, shape: v.shape, values: v.values.map { Double(q.quantize(Float($0), position: position)) }))
                continue
            }
            if case let .fakeQuant(bits, narrow) = node.op, node.inputs.count == 3,
               case let .constant(v)? = info[node.inputs[0].node], case let .constant(lo)? = info[node.inputs[1].node],
               case let .constant(hi)? = info[node.inputs[2].node], lo.values.count == hi.values.count,
               lo.values.count == 1 || lo.values.count == v.shape.last {
                let r = FakeQuantRanges(min: lo.values.map { Float($0) }, max: hi.values.map { Float($0) }, bits: bits, narrow: narrow)
                let n = lo.values.count
                let floats = v.floats
                info[i] = .constant(Folding.Value(dtype: v.dtype, shape: v.shape, values: floats.indices.map {
                    Double(r.quantize(floats[$0], channel: n == 1 ? 0 : $0 % n))
                }))
                continue
            }
            guard Folding.canFold(node.op), !node.inputs.isEmpty else { continue }
            var values: [Folding.Value] = []
            for input in node.inputs {
                guard input.output == 0, case let .constant(v)? = info[input.node] else { break }
                values.append(v)
            }
            guard values.count == node.inputs.count else { continue }
            do { info[i] = .constant(try Folding.evaluate(node.op, values)) } catch { throw RuntimeError(node: node, error.reason) }
        }
    }

    // MARK: slots

    mutating func newSlot(_ shape: [Int]) -> Int {
        constants.append(nil)
        shapes.append(shape)
        return shapes.count - 1
    }

    /// The slot holding a constant's float values (one slot per constant node).
    mutating func floatSlot(_ ref: ValueRef, _ value: Folding.Value) -> Int {
        if let s = constantSlots[ref.node] { return s }
        let s = newSlot(value.shape)
        constants[s] = options.shapesOnly ? [] : value.floats
        constantSlots[ref.node] = s
        return s
    }

    mutating func constantSlot(_ values: @autoclosure () -> [Float], shape: [Int]) -> Int {
        let s = newSlot(shape)
        constants[s] = options.shapesOnly ? [] : values()
        return s
    }

    /// Slot and shape of a float input, materializing constants.
    mutating func operand(_ node: Node, _ k: Int, _ ins: [Info]) throws(RuntimeError) -> (slot: Int, shape: [Int]) {
        switch ins[k] {
        case let .value(slot, shape): return (slot, shape)
        case let .constant(v):
            guard v.dtype.isFloatingPoint else { throw RuntimeError(node: node, "input \(k) is a \(v.dtype) constant; expected float") }
            return (floatSlot(node.inputs[k], v), v.shape)
        }
    }

    func constantInput(_ node: Node, _ k: Int, _ ins: [Info], _ what: String) throws(RuntimeError) -> Folding.Value {
        guard k < ins.count else { throw RuntimeError(node: node, "missing \(what) input") }
        guard case let .constant(v) = ins[k] else {
            throw RuntimeError(node: node, "its \(what) ('\(graph[node.inputs[k].node].name)') must be computable when the graph is loaded, but it depends on run-time values")
        }
        return v
    }

    mutating func emit(_ node: Node, _ index: Int, _ kernel: Kernel, inputs: [Int], shape: [Int]) {
        let out = newSlot(shape)
        steps.append(Step(name: node.name, sourceOp: node.sourceOp, kernel: kernel, inputs: inputs, output: out))
        info[index] = .value(slot: out, shape: shape)
    }

    /// Merges each packed 1x1/1 conv step whose only reader is a multiplier-1 depthwise step into that
    /// step (`expandDepthwise`): the expanded tensor (MobileNetV2's inverted residuals) is then never
    /// written out whole. Only when the 1x1's value is not a plan output, not preserved, and read by
    /// nothing else; the fused call gives bit-identical values (see Fast.expandDepthwise).
    mutating func fuseExpandDepthwise(keep: Set<Int>, preserved: Set<String>) {
        guard options.fuse else { return }
        var readers: [Int: Int] = [:]
        for step in steps { for slot in step.inputs { readers[slot, default: 0] += 1 } }
        var merged: [Step] = []
        for step in steps {
            guard case let .depthwise(g, multiplier, activation, hasBias, residual) = step.kernel,
                  let e = merged.lastIndex(where: { $0.output == step.inputs[0] }),
                  case let .conv2d(eg, outC, expandActivation, expandBias, false) = merged[e].kernel, outC == g.inC,
                  Fast.canFuseExpandDepthwise(expand: eg, depthwise: g, multiplier: multiplier),
                  readers[step.inputs[0]] == 1, !keep.contains(step.inputs[0]), !preserved.contains(merged[e].name)
            else {
                merged.append(step)
                continue
            }
            let expand = merged.remove(at: e)
            merged.append(Step(name: step.name, sourceOp: step.sourceOp,
                               kernel: .expandDepthwise(g, inC: eg.inC, expandActivation: expandActivation, expandBias: expandBias,
                                                        activation: activation, hasBias: hasBias, residual: residual),
                               inputs: expand.inputs + step.inputs.dropFirst(), output: step.output))
        }
        steps = merged
    }

    mutating func computeReleases(keep: Set<Int>) {
        var last: [Int: Int] = [:]
        for (s, step) in steps.enumerated() {
            for slot in step.inputs where constants[slot] == nil { last[slot] = s }
        }
        for (slot, s) in last where !keep.contains(slot) { steps[s].releases.append(slot) }
        for s in steps.indices { steps[s].releases.sort() }
    }
}
