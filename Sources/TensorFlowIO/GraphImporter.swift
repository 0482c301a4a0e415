import Foundation
import GraphIR
import TFProto
import Tensors

/// TensorFlow GraphDef -> GraphIR. The one place TensorFlow op names meet the IR: each supported
/// op maps to an `Op` with its attributes checked and its inputs put in the IR's order. Only the
/// nodes the requested outputs need are imported, so training leftovers elsewhere in a graph do
/// not matter; an unsupported op the outputs need is an error naming the node and the op.
public enum GraphImporter {
    /// The TensorFlow ops the runtime executes (or folds at load time), for `inspect` and messages.
    public static let supportedOps: Set<String> = Set(TFOp.imported.map(\.rawValue))

    /// Imports what `outputs` (node names, `node:index` allowed) need; all sinks when `outputs` is empty.
    public static func importGraph(_ graphDef: Tensorflow_GraphDef, outputs: [String] = [], path: String)
        throws(TensorFlowIOError) -> (graph: Graph, outputs: [ValueRef]) {
        var defs: [String: Tensorflow_NodeDef] = [:]
        for node in graphDef.node {
            guard defs[node.name] == nil else { throw .invalidGraph(path: path, node: node.name, reason: "duplicate node name") }
            defs[node.name] = node
        }
        var targets = outputs.map { TensorName($0) }
        if targets.isEmpty {
            targets = GraphOrder.sinks(graphDef).map { TensorName($0) }
        }
        for t in targets where defs[t.node] == nil { throw .unknownNode(name: t.node, role: "output node", path: path) }

        // Depth-first post-order from the outputs over data inputs only: producers before consumers.
        var importer = Importer(defs: defs, path: path)
        var refs: [ValueRef] = []
        for t in targets {
            refs.append(try importer.value(TensorName(t.description)))
        }
        return (importer.graph, refs)
    }

    struct Importer {
        let defs: [String: Tensorflow_NodeDef]
        let path: String
        var graph = Graph()
        /// Imported outputs by TensorFlow tensor name (aliases such as IdentityN outputs included).
        var values: [String: [ValueRef]] = [:]
        var visiting: Set<String> = []

        init(defs: [String: Tensorflow_NodeDef], path: String) {
            self.defs = defs
            self.path = path
        }

        func fail(_ node: Tensorflow_NodeDef, _ reason: String) -> TensorFlowIOError {
            .invalidGraph(path: path, node: node.name, reason: reason)
        }

        mutating func value(_ name: TensorName) throws(TensorFlowIOError) -> ValueRef {
            let outputs = try importNode(name.node)
            guard name.outputIndex < outputs.count else {
                let op = defs[name.node]?.op ?? "?"
                throw .invalidGraph(path: path, node: name.node,
                                    reason: "output \(name.outputIndex) of \(op) is used, but only output 0..\(outputs.count - 1) is supported")
            }
            return outputs[name.outputIndex]
        }

        /// Imports a node (after its inputs), iteratively so deep graphs cannot overflow the stack.
        mutating func importNode(_ root: String) throws(TensorFlowIOError) -> [ValueRef] {
            if let done = values[root] { return done }
            var stack: [(String, Bool)] = [(root, false)]
            while let (name, expanded) = stack.popLast() {
                if values[name] != nil { continue }
                guard let def = defs[name] else { throw .unknownNode(name: name, role: "input", path: path) }
                let inputs = def.input.filter { !$0.hasPrefix("^") }.map { TensorName($0) }
                if expanded {
                    visiting.remove(name)
                    var refs: [ValueRef] = []
                    for input in inputs { refs.append(try value(input)) }
                    values[name] = try convert(def, refs)
                    continue
                }
                guard !visiting.contains(name) else {
                    throw fail(def, "is part of a cycle (control flow is not supported)")
                }
                visiting.insert(name)
                stack.append((name, true))
                for input in inputs.reversed() where values[input.node] == nil {
                    guard defs[input.node] != nil else { throw .unknownNode(name: input.node, role: "input of '\(name)'", path: path) }
                    if visiting.contains(input.node) { throw fail(def, "is part of a cycle (control flow is not supported)") }
                    stack.append((input.node, false))
                }
            }
            return values[root]!
        }

        mutating func add(_ def: Tensorflow_NodeDef, _ op: Op, _ inputs: [ValueRef]) -> [ValueRef] {
            [ValueRef(graph.add(Node(name: def.name, op: op, inputs: inputs, sourceOp: def.op)))]
        }

        mutating func constant(_ name: String, _ tensor: Tensor) -> ValueRef {
            ValueRef(graph.add(Node(name: name, op: .constant(tensor), inputs: [], sourceOp: "Const")))
        }

        // MARK: attributes

        func string(_ def: Tensorflow_NodeDef, _ key: String) -> String? {
            def.attr[key].map { String(decoding: $0.s, as: UTF8.self) }
        }

        func ints(_ def: Tensorflow_NodeDef, _ key: String) -> [Int]? { def.attr[key]?.list.i.map(Int.init) }

        func requireNHWC(_ def: Tensorflow_NodeDef) throws(TensorFlowIOError) {
            if let format = string(def, "data_format"), !format.isEmpty, format != "NHWC" {
                throw fail(def, "\(def.op) with data_format \(format) is not supported (expected NHWC)")
            }
        }

        func padding(_ def: Tensorflow_NodeDef) throws(TensorFlowIOError) -> Padding {
            switch string(def, "padding") ?? "" {
            case "SAME": return .same
            case "VALID": return .valid
            case "EXPLICIT":
                guard let p = ints(def, "explicit_paddings"), p.count == 8 else {
                    throw fail(def, "EXPLICIT padding needs 8 explicit_paddings")
                }
                guard p[0] == 0, p[1] == 0, p[6] == 0, p[7] == 0 else { throw fail(def, "padding of the batch or channel axis is not supported") }
                return .explicit(top: p[2], bottom: p[3], left: p[4], right: p[5])
            case let other: throw fail(def, "padding '\(other)' is not SAME, VALID or EXPLICIT")
            }
        }

        func fourInts(_ def: Tensorflow_NodeDef, _ key: String, default value: [Int]? = nil) throws(TensorFlowIOError) -> [Int] {
            guard let v = ints(def, key) ?? value, v.count == 4 else { throw fail(def, "attribute \(key) must list 4 integers") }
            guard v[0] == 1, v[3] == 1, v[1] >= 1, v[2] >= 1 else {
                throw fail(def, "\(key) \(v) is not supported (expected [1, h, w, 1] with positive h, w)")
            }
            return v
        }

        func convolution(_ def: Tensorflow_NodeDef) throws(TensorFlowIOError) -> Convolution {
            try requireNHWC(def)
            let s = try fourInts(def, "strides")
            let d = try fourInts(def, "dilations", default: [1, 1, 1, 1])
            return Convolution(strideH: s[1], strideW: s[2], dilationH: d[1], dilationW: d[2], padding: try padding(def))
        }

        func dtype(_ def: Tensorflow_NodeDef, _ key: String) throws(TensorFlowIOError) -> DType {
            guard let t = def.attr[key]?.type, let d = t.hostDType else {
                throw fail(def, "attribute \(key) is missing or names an unsupported dtype")
            }
            return d
        }

        func arity(_ def: Tensorflow_NodeDef, _ inputs: [ValueRef], _ n: Int) throws(TensorFlowIOError) {
            guard inputs.count == n else { throw fail(def, "\(def.op) expects \(n) inputs, has \(inputs.count)") }
        }

        // MARK: ops

        mutating func convert(_ def: Tensorflow_NodeDef, _ inputs: [ValueRef]) throws(TensorFlowIOError) -> [ValueRef] {
            let binary: [String: BinaryOp] = [
                "Add": .add, "AddV2": .add, "Sub": .sub, "Mul": .mul, "RealDiv": .div, "Div": .div, "Maximum": .maximum,
                "Minimum": .minimum, "SquaredDifference": .squaredDifference, "FloorDiv": .floorDiv, "FloorMod": .floorMod,
            ]
            let unary: [String: UnaryOp] = [
                "Relu": .relu, "Relu6": .relu6, "Sigmoid": .sigmoid, "Tanh": .tanh, "Exp": .exp, "Neg": .neg, "Sqrt": .sqrt,
                "Rsqrt": .rsqrt, "Square": .square, "Abs": .abs, "Floor": .floor, "Ceil": .ceil, "Round": .round,
                "HardSwish": .hardSwish,
            ]
            let reductions: [String: ReduceOp] = ["Mean": .mean, "Sum": .sum, "Max": .max, "Min": .min, "Prod": .prod]
            if let op = binary[def.op] {
                try arity(def, inputs, 2)
                return add(def, .binary(op), inputs)
            }
            if let op = unary[def.op] {
                try arity(def, inputs, 1)
                return add(def, .unary(op), inputs)
            }
            if let op = reductions[def.op] {
                try arity(def, inputs, 2)
                return add(def, .reduce(op, keepDims: def.attr["keep_dims"]?.b ?? false), inputs)
            }
            switch def.op {
            case "Placeholder":
                let shape: [Int]? = if case let .shape(proto)? = def.attr["shape"]?.value { proto.dims } else { nil }
                return add(def, .input(dtype: try dtype(def, "dtype"), shape: shape), [])
            case "PlaceholderWithDefault", "Identity", "Snapshot", "StopGradient":
                try arity(def, inputs, 1)
                return add(def, .identity, inputs)
            case "IdentityN":
                return inputs  // output i is input i: no node of its own
            case "NoOp":
                return []
            case "Const":
                guard let proto = def.attr["value"]?.tensor else { throw fail(def, "Const without a value") }
                return add(def, .constant(try TensorProtoCodec.decode(proto, context: "\(path): node '\(def.name)'")), [])
            case "Conv2D":
                try arity(def, inputs, 2)
                return add(def, .conv2d(try convolution(def)), inputs)
            case "DepthwiseConv2dNative":
                try arity(def, inputs, 2)
                return add(def, .depthwiseConv2d(try convolution(def)), inputs)
            case "Conv2DBackpropInput":
                try arity(def, inputs, 3)
                return add(def, .conv2dTranspose(try convolution(def)), [inputs[2], inputs[1], inputs[0]])
            case "MatMul":
                try arity(def, inputs, 2)
                return add(def, .matmul(transposeA: def.attr["transpose_a"]?.b ?? false, transposeB: def.attr["transpose_b"]?.b ?? false), inputs)
            case "BiasAdd", "BiasAddV1":
                try arity(def, inputs, 2)
                try requireNHWC(def)
                return add(def, .biasAdd, inputs)
            case "LeakyRelu":
                try arity(def, inputs, 1)
                return add(def, .unary(.leakyRelu(alpha: def.attr["alpha"]?.f ?? 0.2)), inputs)
            case "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3":
                guard inputs.count == 5 else { throw fail(def, "\(def.op) expects 5 inputs, has \(inputs.count)") }
                try requireNHWC(def)
                if def.attr["is_training"]?.b ?? true {
                    throw fail(def, "\(def.op) with is_training=true computes batch statistics; freeze the graph for inference (is_training=false)")
                }
                return add(def, .batchNorm(epsilon: def.attr["epsilon"]?.f ?? 1e-4), inputs)
            case "MaxPool", "AvgPool":
                try arity(def, inputs, 1)
                try requireNHWC(def)
                let k = try fourInts(def, "ksize"), s = try fourInts(def, "strides")
                let window = Window(sizeH: k[1], sizeW: k[2], strideH: s[1], strideW: s[2], padding: try padding(def))
                return add(def, .pool(def.op == "MaxPool" ? .max : .avg, window), inputs)
            case "Pad", "PadV2":
                try arity(def, inputs, def.op == "Pad" ? 2 : 3)
                return add(def, .pad, inputs)
            case "ConcatV2":
                guard inputs.count >= 2 else { throw fail(def, "ConcatV2 needs at least one value and an axis") }
                return add(def, .concat, inputs)
            case "Concat":
                guard inputs.count >= 2 else { throw fail(def, "Concat needs an axis and at least one value") }
                return add(def, .concat, Array(inputs.dropFirst()) + [inputs[0]])
            case "Reshape":
                try arity(def, inputs, 2)
                return add(def, .reshape, inputs)
            case "Squeeze":
                try arity(def, inputs, 1)
                return add(def, .squeeze(axes: ints(def, "squeeze_dims") ?? []), inputs)
            case "ExpandDims":
                try arity(def, inputs, 2)
                return add(def, .expandDims, inputs)
            case "Softmax":
                try arity(def, inputs, 1)
                return add(def, .softmax, inputs)
            case "ResizeBilinear", "ResizeNearestNeighbor":
                try arity(def, inputs, 2)
                let align = def.attr["align_corners"]?.b ?? false, half = def.attr["half_pixel_centers"]?.b ?? false
                if align && half { throw fail(def, "align_corners and half_pixel_centers cannot both be true") }
                return add(def, .resize(def.op == "ResizeBilinear" ? .bilinear : .nearest, alignCorners: align, halfPixelCenters: half), inputs)
            case "Transpose":
                try arity(def, inputs, 2)
                return add(def, .transpose, inputs)
            case "Shape":
                try arity(def, inputs, 1)
                return add(def, .shape(dtype: def.attr["out_type"] == nil ? .int32 : try dtype(def, "out_type")), inputs)
            case "StridedSlice":
                try arity(def, inputs, 4)
                let a = def.attr
                let masks = StridedSliceMasks(begin: Int(a["begin_mask"]?.i ?? 0), end: Int(a["end_mask"]?.i ?? 0),
                                              ellipsis: Int(a["ellipsis_mask"]?.i ?? 0), newAxis: Int(a["new_axis_mask"]?.i ?? 0),
                                              shrinkAxis: Int(a["shrink_axis_mask"]?.i ?? 0))
                return add(def, .stridedSlice(masks), inputs)
            case "Slice":
                try arity(def, inputs, 3)
                return add(def, .slice, inputs)
            case "Pack":
                guard !inputs.isEmpty else { throw fail(def, "Pack of no values") }
                return add(def, .pack(axis: Int(def.attr["axis"]?.i ?? 0)), inputs)
            case "Cast":
                try arity(def, inputs, 1)
                return add(def, .cast(try dtype(def, "DstT")), inputs)
            case "Fill":
                try arity(def, inputs, 2)
                return add(def, .fill, inputs)
            case "Range":
                try arity(def, inputs, 3)
                return add(def, .range, inputs)
            case "GatherV2":
                try arity(def, inputs, 3)
                if let b = def.attr["batch_dims"]?.i, b != 0 { throw fail(def, "GatherV2 with batch_dims \(b) is not supported") }
                return add(def, .gather, inputs)
            case "AddN":
                guard var sum = inputs.first else { throw fail(def, "AddN of no values") }
                // A chain of binary adds; the last one carries the node's name.
                for (k, next) in inputs.dropFirst().enumerated() {
                    let name = k == inputs.count - 2 ? def.name : "\(def.name)/add_\(k)"
                    sum = ValueRef(graph.add(Node(name: name, op: .binary(.add), inputs: [sum, next], sourceOp: def.op)))
                }
                return [sum]
            case "DepthToSpace":
                try arity(def, inputs, 1)
                try requireNHWC(def)
                guard let block = def.attr["block_size"]?.i, block >= 1 else { throw fail(def, "DepthToSpace needs a positive block_size") }
                return add(def, .depthToSpace(blockSize: Int(block)), inputs)
            case "FixNeuron":
                try arity(def, inputs, 1)
                let a = def.attr
                let bits = Int(a["bit_width"]?.i ?? 8), position = Int(a["quantize_pos"]?.i ?? 0), mode = Int(a["mode"]?.i ?? 1)
                guard (1...32).contains(bits), (0...2).contains(mode) else {
                    throw fail(def, "FixNeuron bit_width \(bits) / mode \(mode) out of range (1-32 / 0-2)")
                }
                if let phase = a["phase"]?.i, phase != 1 {
                    throw fail(def, "FixNeuron in phase \(phase) (calibration or training); expected an evaluation model (phase 1)")
                }
                return add(def, .fixNeuron(bitWidth: bits, position: position, mode: mode), inputs)
            case "FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel", "FakeQuantWithMinMaxArgs":
                let bits = Int(def.attr["num_bits"]?.i ?? 8), narrow = def.attr["narrow_range"]?.b ?? false
                guard (2...16).contains(bits) else { throw fail(def, "num_bits \(bits) is outside 2-16") }
                var ins = inputs
                if def.op == "FakeQuantWithMinMaxArgs" {
                    try arity(def, inputs, 1)
                    ins.append(constant("\(def.name)/min", Tensor([def.attr["min"]?.f ?? -6], shape: [])))
                    ins.append(constant("\(def.name)/max", Tensor([def.attr["max"]?.f ?? 6], shape: [])))
                } else {
                    try arity(def, inputs, 3)
                }
                return add(def, .fakeQuant(numBits: bits, narrowRange: narrow), ins)
            case "SpaceToBatchND", "BatchToSpaceND":
                try arity(def, inputs, 3)
                return add(def, def.op == "SpaceToBatchND" ? .spaceToBatch : .batchToSpace, inputs)
            default:
                throw fail(def, "op \(def.op) is not supported by the vaiq-build runtime")
            }
        }
    }
}
