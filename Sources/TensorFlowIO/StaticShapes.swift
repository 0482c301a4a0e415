import Foundation
import TFProto
import Tensors

/// Static shape inference over a GraphDef for the ops quantizable models use, output 0 only.
/// Dimensions are -1 where unknown (usually the batch); nil means the rank is unknown.
/// A node's `_output_shapes` attribute, when present, wins over inference.
public struct StaticShapes {
    public private(set) var shapes: [String: [Int]] = [:]
    /// Integer values known at load time: Const ints and the Shape/StridedSlice/Pack chains that
    /// Keras and `conv2d_transpose` build from static shapes (a scalar is a one-element array).
    /// An unknown dimension read by `Shape` stays -1; no arithmetic is done on these values, so
    /// -1 keeps meaning "unknown" wherever it flows (a shape or a Reshape target).
    private var intValues: [String: [Int]] = [:]
    private let byName: [String: Tensorflow_NodeDef]

    /// `inputShapes` overrides Placeholder shapes (e.g. from `--input_shapes`).
    public init(graph: Tensorflow_GraphDef, inputShapes: [String: [Int]] = [:]) {
        var byName: [String: Tensorflow_NodeDef] = [:]
        for node in graph.node { byName[node.name] = node }
        self.byName = byName
        for node in GraphOrder.topological(graph) {
            if let given = inputShapes[node.name] {
                shapes[node.name] = given
            } else if let listed = node.attr["_output_shapes"]?.list.shape.first?.dims {
                shapes[node.name] = listed
            } else if let inferred = infer(node) {
                shapes[node.name] = inferred
            }
            if let values = foldInts(node) { intValues[node.name] = values }
        }
    }

    public subscript(node: String) -> [Int]? { shapes[node] }

    private func input(_ node: Tensorflow_NodeDef, _ i: Int) -> [Int]? {
        let data = node.input.filter { !$0.hasPrefix("^") }
        guard i < data.count else { return nil }
        let ref = TensorName(data[i])
        return ref.outputIndex == 0 ? shapes[ref.node] : nil
    }

    private func constInts(_ node: Tensorflow_NodeDef, _ i: Int) -> [Int]? {
        let data = node.input.filter { !$0.hasPrefix("^") }
        guard i < data.count else { return nil }
        let ref = TensorName(data[i])
        return ref.outputIndex == 0 ? intValues[ref.node] : nil
    }

    /// Evaluates the integer shape arithmetic of `node` when its inputs are known.
    private func foldInts(_ node: Tensorflow_NodeDef) -> [Int]? {
        guard let op = node.tfOp else { return nil }
        switch op {
        case .const:
            guard let proto = node.attr["value"]?.tensor, let dims = proto.tensorShape.dims,
                  let bytes = Tensor.byteCount(dims, .int64), bytes <= 64 * 8,
                  let t = try? TensorProtoCodec.decode(proto, context: node.name) else { return nil }
            switch t.dtype {
            case .int32: return t.scalars(as: Int32.self).map(Int.init)
            case .int64: return t.scalars(as: Int64.self).map(Int.init)
            default: return nil
            }
        case .shape:
            return input(node, 0)
        case .identity:
            return constInts(node, 0)
        case .pack:
            let data = node.input.filter { !$0.hasPrefix("^") }
            var out: [Int] = []
            for i in data.indices {
                guard let v = constInts(node, i), v.count == 1 else { return nil }
                out.append(v[0])
            }
            return out
        case .stridedSlice:
            // The 1-D case: a slice of a shape vector, possibly shrunk to a scalar.
            guard let x = constInts(node, 0), let b = constInts(node, 1), let e = constInts(node, 2),
                  let st = constInts(node, 3), b.count == 1, e.count == 1, st.count == 1, st[0] != 0,
                  (node.attr["ellipsis_mask"]?.i ?? 0) == 0, (node.attr["new_axis_mask"]?.i ?? 0) == 0 else { return nil }
            let n = x.count
            func clampIndex(_ v: Int) -> Int { v < 0 ? v + n : v }
            if (node.attr["shrink_axis_mask"]?.i ?? 0) & 1 != 0 {
                let i = clampIndex(b[0])
                return i >= 0 && i < n ? [x[i]] : nil
            }
            let stride = st[0]
            var start = (node.attr["begin_mask"]?.i ?? 0) & 1 != 0 ? (stride > 0 ? 0 : n - 1) : clampIndex(b[0])
            let end = (node.attr["end_mask"]?.i ?? 0) & 1 != 0 ? (stride > 0 ? n : -1) : clampIndex(e[0])
            start = min(max(start, stride > 0 ? 0 : -1), stride > 0 ? n : n - 1)
            var out: [Int] = []
            while stride > 0 ? start < min(end, n) : start > max(end, -1) {
                out.append(x[start])
                start += stride
            }
            return out
        default:
            return nil
        }
    }

    private func ints(_ node: Tensorflow_NodeDef, _ attr: String) -> [Int]? {
        node.attr[attr]?.list.i.map(Int.init)
    }

    private mutating func infer(_ node: Tensorflow_NodeDef) -> [Int]? {
        guard let op = node.tfOp else { return nil }
        switch op {
        case .placeholder, .placeholderWithDefault:
            return node.attr["shape"]?.shape.dims ?? (op == .placeholderWithDefault ? input(node, 0) : nil)
        case .const:
            return node.attr["value"]?.tensor.tensorShape.dims
        case .shape:
            return input(node, 0).map { [$0.count] }
        case .variableV2, .variable, .varHandleOp:
            return node.attr["shape"]?.shape.dims
        case .identity, .readVariableOp, .relu, .relu6, .leakyRelu, .sigmoid, .tanh, .softmax, .elu, .selu,
             .neg, .abs, .exp, .log, .sqrt, .rsqrt, .square, .biasAdd, .fixNeuron, .checkNumerics,
             .fusedBatchNorm, .fusedBatchNormV2, .fusedBatchNormV3, .stopGradient, .cast, .round, .floor,
             .fakeQuantWithMinMaxVars, .fakeQuantWithMinMaxArgs, .lrn, .hardSwish:
            return input(node, 0)
        case .add, .addV2, .sub, .mul, .realDiv, .maximum, .minimum, .squaredDifference, .floorDiv, .pow:
            guard let a = input(node, 0), let b = input(node, 1) else { return nil }
            return broadcast(a, b)
        case .addN:
            return input(node, 0)
        case .conv2D, .depthwiseConv2dNative, .depthwiseConv2d, .maxPool, .avgPool:
            return window(node)
        case .matMul:
            guard let a = input(node, 0), let b = input(node, 1), a.count == 2, b.count == 2 else { return nil }
            let ta = node.attr["transpose_a"]?.b ?? false, tb = node.attr["transpose_b"]?.b ?? false
            return [ta ? a[1] : a[0], tb ? b[0] : b[1]]
        case .conv2DBackpropInput:
            return constInts(node, 0)
        case .mean, .max, .min, .sum, .prod:
            guard let x = input(node, 0), let axes = constInts(node, 1) else { return nil }
            let keep = node.attr["keep_dims"]?.b ?? false
            let drop = Set(axes.map { $0 < 0 ? $0 + x.count : $0 })
            return x.indices.compactMap { drop.contains($0) ? (keep ? 1 : nil) : x[$0] }
        case .concatV2:
            let data = node.input.filter { !$0.hasPrefix("^") }
            guard data.count >= 2, let axisValue = constInts(node, data.count - 1)?.first else { return nil }
            let parts = (0..<(data.count - 1)).map { input(node, $0) }
            guard let first = parts.first ?? nil, parts.allSatisfy({ $0?.count == first.count }) else { return nil }
            let axis = axisValue < 0 ? axisValue + first.count : axisValue
            guard axis >= 0, axis < first.count else { return nil }
            var out = first
            out[axis] = parts.contains { $0![axis] < 0 } ? -1 : parts.reduce(0) { $0 &+ $1![axis] }
            return out
        case .pad, .padV2, .mirrorPad:
            guard let x = input(node, 0), let p = constInts(node, 1), p.count == 2 * x.count else { return nil }
            return x.indices.map { x[$0] < 0 ? -1 : x[$0] &+ p[2 * $0] &+ p[2 * $0 + 1] }
        case .reshape:
            guard var target = constInts(node, 1) else { return nil }
            if let wild = target.firstIndex(of: -1), let x = input(node, 0), !x.contains(-1) {
                let known = target.filter { $0 != -1 }.reduce(1, &*)
                if known > 0 { target[wild] = x.reduce(1, &*) / known }
            }
            return target
        case .squeeze:
            guard let x = input(node, 0) else { return nil }
            let dims = Set((ints(node, "squeeze_dims") ?? []).map { $0 < 0 ? $0 + x.count : $0 })
            return x.indices.compactMap { (dims.isEmpty ? x[$0] == 1 : dims.contains($0)) ? nil : x[$0] }
        case .expandDims:
            guard var x = input(node, 0), let axis = constInts(node, 1)?.first else { return nil }
            let a = axis < 0 ? axis + x.count + 1 : axis
            guard a >= 0, a <= x.count else { return nil }
            x.insert(1, at: a)
            return x
        case .resizeBilinear, .resizeNearestNeighbor:
            guard let x = input(node, 0), x.count == 4, let size = constInts(node, 1), size.count == 2 else { return nil }
            return [x[0], size[0], size[1], x[3]]
        case .depthToSpace:
            guard let x = input(node, 0), x.count == 4, let b = node.attr["block_size"]?.i else { return nil }
            let s = Int(b)
            guard s > 0 else { return nil }
            return [x[0], x[1] < 0 ? -1 : x[1] &* s, x[2] < 0 ? -1 : x[2] &* s, x[3] < 0 ? -1 : x[3] / (s &* s)]
        case .transpose:
            guard let x = input(node, 0), let perm = constInts(node, 1), perm.count == x.count,
                  perm.allSatisfy({ x.indices.contains($0) }) else { return nil }
            return perm.map { x[$0] }
        default:
            return nil
        }
    }

    /// Conv2D, depthwise conv and pooling: NHWC output from strides, padding and dilations.
    private func window(_ node: Tensorflow_NodeDef) -> [Int]? {
        guard let x = input(node, 0), x.count == 4 else { return nil }
        if case let format? = node.attr["data_format"]?.s, String(decoding: format, as: UTF8.self) == "NCHW" { return nil }
        let strides = ints(node, "strides") ?? [1, 1, 1, 1]
        let dilations = ints(node, "dilations") ?? [1, 1, 1, 1]
        var kh: Int, kw: Int, channels: Int
        if TFOp.poolOps.contains(node.tfOp) {
            guard let k = ints(node, "ksize"), k.count == 4 else { return nil }
            (kh, kw, channels) = (k[1], k[2], x[3])
        } else {
            guard let w = input(node, 1), w.count == 4 else { return nil }
            (kh, kw) = (w[0], w[1])
            channels = node.tfOp == .conv2D ? w[3] : (x[3] < 0 ? -1 : x[3] &* w[3])
        }
        guard strides.count == 4, dilations.count == 4 else { return nil }
        let padding = String(decoding: node.attr["padding"]?.s ?? Data(), as: UTF8.self)
        let explicit = ints(node, "explicit_paddings") ?? []
        func out(_ size: Int, _ k: Int, _ stride: Int, _ dilation: Int, _ axis: Int) -> Int {
            guard size >= 0, stride > 0 else { return -1 }
            // Wrapping arithmetic: absurd shapes from a corrupt file give nonsense, never a trap.
            let effective = (k &- 1) &* dilation &+ 1
            switch padding {
            case "SAME": return (size &+ stride &- 1) / stride
            case "EXPLICIT" where explicit.count == 8:
                return (size &+ explicit[2 * axis] &+ explicit[2 * axis + 1] &- effective) / stride &+ 1
            default: return (size &- effective) / stride &+ 1
            }
        }
        return [x[0], out(x[1], kh, strides[1], dilations[1], 1), out(x[2], kw, strides[2], dilations[2], 2), channels]
    }

    private func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let n = max(a.count, b.count)
        let pa = Array(repeating: 1, count: n - a.count) + a, pb = Array(repeating: 1, count: n - b.count) + b
        var out: [Int] = []
        for (x, y) in zip(pa, pb) {
            if x == y || y == 1 { out.append(x) }
            else if x == 1 { out.append(y) }
            else if x == -1 || y == -1 { out.append(max(x, y) == 1 ? -1 : max(x, y)) }
            else { return nil }
        }
        return out
    }
}

/// Node orders of a GraphDef.
public enum GraphOrder {
    /// The nodes nothing reads (through data or control inputs), in graph order, except the op
    /// types never taken for outputs (`TFOp.neverOutputs`): a graph's outputs when none are named.
    public static func sinks(_ graph: Tensorflow_GraphDef) -> [String] {
        let consumed = Set(graph.node.flatMap { $0.input.map { TensorName($0).node } })
        return graph.node.filter { !consumed.contains($0.name) && !TFOp.neverOutputs.contains($0.tfOp) }.map(\.name)
    }

    /// Producers before consumers (Kahn's algorithm; deterministic for a given file). Nodes on a cycle,
    /// which only control-flow graphs have, come last in file order.
    public static func topological(_ graph: Tensorflow_GraphDef) -> [Tensorflow_NodeDef] {
        var index: [String: Int] = [:]
        for (i, node) in graph.node.enumerated() { index[node.name] = i }
        var pending = [Int](repeating: 0, count: graph.node.count)
        var consumers = [[Int]](repeating: [], count: graph.node.count)
        for (i, node) in graph.node.enumerated() {
            for input in node.input {
                guard let p = index[TensorName(input).node] else { continue }
                pending[i] += 1
                consumers[p].append(i)
            }
        }
        var ready = (0..<graph.node.count).filter { pending[$0] == 0 }.reversed() as [Int]
        var order: [Int] = []
        order.reserveCapacity(graph.node.count)
        while let i = ready.popLast() {
            order.append(i)
            for c in consumers[i] {
                pending[c] -= 1
                if pending[c] == 0 { ready.append(c) }
            }
        }
        if order.count < graph.node.count {
            let placed = Set(order)
            order += (0..<graph.node.count).filter { !placed.contains($0) }
        }
        return order.map { graph.node[$0] }
    }
}
