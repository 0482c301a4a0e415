import Foundation
import Tensors

/// Evaluates the shape-computation ops on constant inputs, at load time: Keras-exported graphs
/// compute reshape targets and slice bounds with `Shape -> StridedSlice -> Pack` chains, which
/// become constants once the input shapes are known. Values pass through Double, which holds
/// every int32 and float32 exactly, and are cast back to the op's dtype.
public enum Folding {
    public struct Failure: Error, CustomStringConvertible {
        public let reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { reason }
    }

    /// A small host array: what constant folding works on.
    public struct Value: Sendable, Equatable {
        public var dtype: DType
        public var shape: [Int]
        /// float32 (and narrower float) constants keep their values as Float: a model's weights
        /// pass through planning at their own size, not doubled (`values` converts on demand).
        private var storage: Storage

        private enum Storage: Sendable {
            case doubles([Double])
            case floats([Float])
        }

        /// The values as Double (exact for every stored Float).
        public var values: [Double] {
            get {
                switch storage {
                case .doubles(let d): d
                case .floats(let f): f.map(Double.init)
                }
            }
            set { storage = .doubles(newValue) }
        }

        /// The values as Float: what `values.map { Float($0) }` gives, without the Double copy.
        public var floats: [Float] {
            switch storage {
            case .doubles(let d): d.map { Float($0) }
            case .floats(let f): f
            }
        }

        public var count: Int {
            switch storage {
            case .doubles(let d): d.count
            case .floats(let f): f.count
            }
        }

        public init(dtype: DType, shape: [Int], values: [Double]) {
            self.dtype = dtype
            self.shape = shape
            storage = .doubles(values)
        }

        public init(_ tensor: Tensor) {
            dtype = tensor.dtype
            shape = tensor.shape
            switch tensor.dtype {
            case .int64: storage = .doubles(tensor.scalars(as: Int64.self).map(Double.init))
            case .float64: storage = .doubles(tensor.scalars(as: Double.self))
            case .int32: storage = .doubles(tensor.scalars(as: Int32.self).map(Double.init))
            case .float32: storage = .floats(tensor.scalars(as: Float.self))
            default: storage = .doubles(tensor.floatValues().map(Double.init))
            }
        }

        public static func == (a: Value, b: Value) -> Bool {
            a.dtype == b.dtype && a.shape == b.shape && a.values == b.values
        }

        public var ints: [Int] { values.map { Int($0) } }

        /// Back to a tensor of `dtype` (float values are rounded to float32 the way TF stores them).
        public func tensor() throws(Failure) -> Tensor {
            switch dtype {
            case .float32: return Tensor(floats, shape: shape)
            case .float64: return Tensor(values, shape: shape)
            case .int32: return Tensor(values.map { Int32(clamping: Int64($0)) }, shape: shape)
            case .int64: return Tensor(values.map { Int64($0) }, shape: shape)
            case .bool: return Tensor(values.map { $0 != 0 }, shape: shape)
            case .int8: return Tensor(values.map { Int8(clamping: Int64($0)) }, shape: shape)
            case .uint8: return Tensor(values.map { UInt8(clamping: Int64($0)) }, shape: shape)
            default: throw Failure("constant folding does not produce \(dtype) tensors")
            }
        }
    }

    /// Whether `op` is one constant folding can evaluate.
    public static func canFold(_ op: Op) -> Bool {
        switch op {
        case .identity, .cast, .shape, .stridedSlice, .slice, .pack, .fill, .range, .gather, .reshape,
             .squeeze, .expandDims, .concat, .transpose, .binary, .reduce:
            true
        case let .unary(u):
            switch u {
            case .neg, .abs, .square, .sqrt, .rsqrt, .exp, .floor, .ceil, .round, .relu, .relu6: true
            default: false
            }
        default: false
        }
    }

    /// Evaluates `op` on constant `inputs`. `shapeOf` is used by `.shape`, whose input need not be constant.
    public static func evaluate(_ op: Op, _ inputs: [Value]) throws(Failure) -> Value {
        func input(_ i: Int) throws(Failure) -> Value {
            guard i < inputs.count else { throw Failure("expects at least \(i + 1) inputs, has \(inputs.count)") }
            return inputs[i]
        }
        switch op {
        case .identity:
            return try input(0)
        case let .cast(dtype):
            var v = try input(0)
            if !dtype.isFloatingPoint && dtype != .bool { v.values = v.values.map { $0.rounded(.towardZero) } }
            if dtype == .bool { v.values = v.values.map { $0 != 0 ? 1 : 0 } }
            v.dtype = dtype
            return v
        case let .shape(dtype):
            let x = try input(0)
            return Value(dtype: dtype, shape: [x.shape.count], values: x.shape.map(Double.init))
        case let .stridedSlice(masks):
            return try stridedSlice(input(0), begin: input(1).ints, end: input(2).ints, strides: input(3).ints, masks: masks)
        case .slice:
            let x = try input(0)
            let begin = try input(1).ints
            var size = try input(2).ints
            guard begin.count == x.shape.count, size.count == x.shape.count else {
                throw Failure("slice begin/size have \(begin.count)/\(size.count) entries for a rank-\(x.shape.count) input")
            }
            for d in size.indices where size[d] == -1 { size[d] = x.shape[d] - begin[d] }
            let end = zip(begin, size).map { $0 + $1 }
            return try stridedSlice(x, begin: begin, end: end, strides: begin.map { _ in 1 }, masks: StridedSliceMasks())
        case let .pack(axis):
            guard let first = inputs.first else { throw Failure("pack of no inputs") }
            guard inputs.allSatisfy({ $0.shape == first.shape }) else {
                throw Failure("pack inputs have different shapes \(inputs.map(\.shape))")
            }
            let rank = first.shape.count + 1
            let a = axis < 0 ? axis + rank : axis
            guard (0..<rank).contains(a) else { throw Failure("pack axis \(axis) out of range for rank \(rank)") }
            let expanded = inputs.map { v in Value(dtype: v.dtype, shape: Array(v.shape[..<a]) + [1] + Array(v.shape[a...]), values: v.values) }
            return try concat(expanded, axis: a)
        case .fill:
            let dims = try input(0).ints
            let value = try input(1)
            guard dims.allSatisfy({ $0 >= 0 }), let count = Tensor.byteCount(dims, .float64) else { throw Failure("fill dims \(dims) are invalid") }
            return Value(dtype: value.dtype, shape: dims, values: Array(repeating: value.values.first ?? 0, count: count / 8))
        case .range:
            let start = try input(0), limit = try input(1).values.first ?? 0, delta = try input(2).values.first ?? 1
            let s = start.values.first ?? 0
            guard delta != 0 else { throw Failure("range delta is 0") }
            let count = max(0, Int(((limit - s) / delta).rounded(.up)))
            return Value(dtype: start.dtype, shape: [count], values: (0..<count).map { s + Double($0) * delta })
        case .gather:
            return try gather(input(0), indices: input(1), axis: inputs.count > 2 ? input(2).ints.first ?? 0 : 0)
        case .reshape:
            let x = try input(0)
            return Value(dtype: x.dtype, shape: try Shapes.reshape(x.shape, to: input(1).ints), values: x.values)
        case let .squeeze(axes):
            let x = try input(0)
            return Value(dtype: x.dtype, shape: try Shapes.squeeze(x.shape, axes: axes), values: x.values)
        case .expandDims:
            let x = try input(0)
            return Value(dtype: x.dtype, shape: try Shapes.expandDims(x.shape, axis: input(1).ints.first ?? 0), values: x.values)
        case .concat:
            guard inputs.count >= 2 else { throw Failure("concat needs values and an axis") }
            let axis = inputs.last!.ints.first ?? 0
            let parts = Array(inputs.dropLast())
            let rank = parts[0].shape.count
            return try concat(parts, axis: axis < 0 ? axis + rank : axis)
        case .transpose:
            let x = try input(0)
            let perm = try input(1).ints
            let shape = try Shapes.transpose(x.shape, perm: perm)
            let xv = x.values
            var out = [Double](repeating: 0, count: xv.count)
            let inStrides = Shapes.strides(x.shape)
            let outStrides = Shapes.strides(shape)
            for o in out.indices {
                var rem = o, src = 0
                for d in shape.indices {
                    let i = rem / max(outStrides[d], 1)
                    rem -= i * outStrides[d]
                    src += i * inStrides[perm[d]]
                }
                out[o] = xv[src]
            }
            return Value(dtype: x.dtype, shape: shape, values: out)
        case let .binary(b):
            return try binary(b, input(0), input(1))
        case let .unary(u):
            var x = try input(0)
            x.values = x.values.map { v in
                switch u {
                case .neg: -v
                case .abs: Swift.abs(v)
                case .square: v * v
                case .sqrt: v.squareRoot()
                case .rsqrt: 1 / v.squareRoot()
                case .exp: Foundation.exp(v)
                case .floor: v.rounded(.down)
                case .ceil: v.rounded(.up)
                case .round: v.rounded(.toNearestOrEven)
                case .relu: Swift.max(v, 0)
                case .relu6: Swift.min(Swift.max(v, 0), 6)
                default: v
                }
            }
            return x
        case let .reduce(r, keepDims):
            return try reduce(r, input(0), axes: input(1).ints, keepDims: keepDims)
        default:
            throw Failure("\(op.name) is not evaluated at load time")
        }
    }

    static func binary(_ op: BinaryOp, _ a: Value, _ b: Value) throws(Failure) -> Value {
        let shape = try Shapes.broadcast(a.shape, b.shape)
        let aIndex = Shapes.broadcastIndexer(from: a.shape, to: shape)
        let bIndex = Shapes.broadcastIndexer(from: b.shape, to: shape)
        let count = Tensor.elementCount(shape)
        let integer = !a.dtype.isFloatingPoint
        var out = [Double](repeating: 0, count: count)
        let av = a.values, bv = b.values   // `values` converts Float storage: once, not per element
        for i in 0..<count {
            let x = av[aIndex(i)], y = bv[bIndex(i)]
            out[i] = switch op {
            case .add: x + y
            case .sub: x - y
            case .mul: x * y
            case .div: integer ? (x / y).rounded(.towardZero) : x / y
            case .maximum: Swift.max(x, y)
            case .minimum: Swift.min(x, y)
            case .squaredDifference: (x - y) * (x - y)
            case .floorDiv: (x / y).rounded(.down)
            case .floorMod: x - (x / y).rounded(.down) * y
            }
        }
        return Value(dtype: a.dtype, shape: shape, values: out)
    }

    static func reduce(_ op: ReduceOp, _ x: Value, axes rawAxes: [Int], keepDims: Bool) throws(Failure) -> Value {
        let rank = x.shape.count
        let axes = Set(rawAxes.map { $0 < 0 ? $0 + rank : $0 })
        guard axes.allSatisfy({ (0..<rank).contains($0) }) else { throw Failure("reduction axes \(rawAxes) out of range for rank \(rank)") }
        let kept = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        let count = Tensor.elementCount(kept)
        var groups = [[Double]](repeating: [], count: count)
        let strides = Shapes.strides(kept)
        let inStrides = Shapes.strides(x.shape)
        let xv = x.values
        for i in xv.indices {
            var rem = i, o = 0
            for d in 0..<rank {
                let c = rem / max(inStrides[d], 1)
                rem -= c * inStrides[d]
                if !axes.contains(d) { o += c * strides[d] }
            }
            groups[o].append(xv[i])
        }
        let values = groups.map { g -> Double in
            switch op {
            case .sum: g.reduce(0, +)
            case .mean: g.isEmpty ? .nan : g.reduce(0, +) / Double(g.count)
            case .max: g.max() ?? -.infinity
            case .min: g.min() ?? .infinity
            case .prod: g.reduce(1, *)
            }
        }
        let shape = keepDims ? kept : x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        return Value(dtype: x.dtype, shape: shape, values: values)
    }

    static func concat(_ parts: [Value], axis: Int) throws(Failure) -> Value {
        let rank = parts[0].shape.count
        guard (0..<rank).contains(axis) else { throw Failure("concat axis \(axis) out of range for rank \(rank)") }
        for p in parts where p.shape.count != rank || zip(p.shape, parts[0].shape).enumerated().contains(where: { $0.offset != axis && $0.element.0 != $0.element.1 }) {
            throw Failure("concat inputs have incompatible shapes \(parts.map(\.shape)) along axis \(axis)")
        }
        let outer = parts[0].shape[..<axis].reduce(1, *)
        var shape = parts[0].shape
        shape[axis] = parts.map { $0.shape[axis] }.reduce(0, +)
        var out: [Double] = []
        out.reserveCapacity(Tensor.elementCount(shape))
        let partValues = parts.map(\.values)
        for o in 0..<outer {
            for (p, pv) in zip(parts, partValues) {
                let chunk = p.shape[axis...].reduce(1, *)
                out += pv[o * chunk..<(o + 1) * chunk]
            }
        }
        return Value(dtype: parts[0].dtype, shape: shape, values: out)
    }

    static func gather(_ params: Value, indices: Value, axis rawAxis: Int) throws(Failure) -> Value {
        let rank = params.shape.count
        let axis = rawAxis < 0 ? rawAxis + rank : rawAxis
        guard (0..<rank).contains(axis) else { throw Failure("gather axis \(rawAxis) out of range for rank \(rank)") }
        let outer = params.shape[..<axis].reduce(1, *)
        let inner = params.shape[(axis + 1)...].reduce(1, *)
        let n = params.shape[axis]
        var out: [Double] = []
        let pv = params.values, ids = indices.ints
        for o in 0..<outer {
            for idx in ids {
                guard (0..<n).contains(idx) else { throw Failure("gather index \(idx) out of range [0, \(n))") }
                let start = (o * n + idx) * inner
                out += pv[start..<start + inner]
            }
        }
        let shape = Array(params.shape[..<axis]) + indices.shape + Array(params.shape[(axis + 1)...])
        return Value(dtype: params.dtype, shape: shape, values: out)
    }

    /// TensorFlow's StridedSlice, masks included (ellipsis, new axes, shrink).
    public static func stridedSlice(_ x: Value, begin: [Int], end: [Int], strides: [Int], masks: StridedSliceMasks) throws(Failure) -> Value {
        let plan = try StridedSlicePlan(shape: x.shape, begin: begin, end: end, strides: strides, masks: masks)
        var out: [Double] = []
        out.reserveCapacity(Tensor.elementCount(plan.outputShape))
        let inStrides = Shapes.strides(x.shape)
        let xv = x.values
        func walk(_ d: Int, _ offset: Int) {
            if d == x.shape.count { out.append(xv[offset]); return }
            var i = plan.begin[d]
            for _ in 0..<plan.sizes[d] {
                walk(d + 1, offset + i * inStrides[d])
                i += plan.strides[d]
            }
        }
        if !plan.outputShape.contains(0) { walk(0, 0) }
        return Value(dtype: x.dtype, shape: plan.outputShape, values: out)
    }
}

/// The dense, per-dimension form of a StridedSlice, following TensorFlow's BuildDenseSpec.
public struct StridedSlicePlan: Sendable {
    public var begin: [Int] = [], strides: [Int] = [], sizes: [Int] = []
    public var outputShape: [Int] = []

    public init(shape: [Int], begin sparseBegin: [Int], end sparseEnd: [Int], strides sparseStrides: [Int],
                masks: StridedSliceMasks) throws(Folding.Failure) {
        let n = sparseBegin.count
        guard sparseEnd.count == n, sparseStrides.count == n else {
            throw Folding.Failure("strided slice begin, end and strides differ in length (\(n), \(sparseEnd.count), \(sparseStrides.count))")
        }
        var ellipsis = masks.ellipsis
        var sparseDims = n
        if ellipsis == 0 { ellipsis = 1 << n; sparseDims += 1 }
        let rank = shape.count
        var denseBegin = [Int](repeating: 0, count: rank), denseEnd = denseBegin, denseStride = [Int](repeating: 1, count: rank)
        var beginMask = [Bool](repeating: false, count: rank), endMask = beginMask, shrink = beginMask
        // Output layout: dense dim index, or -1 for a new axis.
        var layout: [Int] = []
        var full = 0
        let newAxesAfterEllipsis: Int = {
            guard let e = (0..<sparseDims).first(where: { ellipsis & (1 << $0) != 0 }) else { return 0 }
            return ((e + 1)..<max(e + 1, sparseDims)).filter { masks.newAxis & (1 << $0) != 0 }.count
        }()
        for i in 0..<sparseDims {
            let bit = 1 << i
            if ellipsis & bit != 0 {
                let next = min(rank - (sparseDims - i) + 1 + newAxesAfterEllipsis, rank)
                while full < next {
                    beginMask[full] = true; endMask[full] = true
                    layout.append(full)
                    full += 1
                }
            } else if masks.newAxis & bit != 0 {
                layout.append(-1)
            } else {
                guard full < rank else { throw Folding.Failure("strided slice indexes \(n) dimensions of a rank-\(rank) tensor") }
                denseBegin[full] = sparseBegin[i]
                denseEnd[full] = sparseEnd[i]
                denseStride[full] = sparseStrides[i]
                beginMask[full] = masks.begin & bit != 0
                endMask[full] = masks.end & bit != 0
                shrink[full] = masks.shrinkAxis & bit != 0
                layout.append(full)
                full += 1
            }
        }
        while full < rank { beginMask[full] = true; endMask[full] = true; layout.append(full); full += 1 }
        for d in 0..<rank {
            let size = shape[d], s = denseStride[d]
            guard s != 0 else { throw Folding.Failure("strided slice stride is 0 in dimension \(d)") }
            func canonical(_ x: Int, _ masked: Bool, isBegin: Bool) -> Int {
                if masked { return s > 0 ? (isBegin ? 0 : size) : (isBegin ? size - 1 : -1) }
                let v = x < 0 ? x + size : x
                return s > 0 ? Swift.min(Swift.max(v, 0), size) : Swift.min(Swift.max(v, -1), size - 1)
            }
            var b = canonical(denseBegin[d], beginMask[d], isBegin: true)
            var e = canonical(denseEnd[d], endMask[d], isBegin: false)
            if shrink[d] {
                let v = denseBegin[d] < 0 ? denseBegin[d] + size : denseBegin[d]
                guard (0..<size).contains(v) else { throw Folding.Failure("strided slice index \(denseBegin[d]) out of range for dimension \(d) of size \(size)") }
                b = v; e = v + 1
            }
            let count = s > 0 ? Swift.max(0, (e - b + s - 1) / s) : Swift.max(0, (b - e + (-s) - 1) / (-s))
            begin.append(b)
            strides.append(shrink[d] ? 1 : s)
            sizes.append(count)
        }
        outputShape = layout.compactMap { d in d < 0 ? 1 : (shrink[d] ? nil : sizes[d]) }
    }
}
