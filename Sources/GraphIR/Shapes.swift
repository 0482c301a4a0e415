/// Shape arithmetic shared by constant folding and the runtime's planner. Every function checks
/// its arguments and throws a message that names the shapes involved.
public enum Shapes {
    public typealias Failure = Folding.Failure

    public static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for d in shape.indices.reversed() {
            strides[d] = s
            s *= shape[d]
        }
        return strides
    }

    /// NumPy broadcasting of two shapes.
    public static func broadcast(_ a: [Int], _ b: [Int]) throws(Failure) -> [Int] {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        var out: [Int] = []
        for (x, y) in zip(pa, pb) {
            guard x == y || x == 1 || y == 1 else { throw Failure("shapes \(a) and \(b) do not broadcast") }
            out.append(x == 1 ? y : x)
        }
        return out
    }

    /// Maps a flat index of the broadcast shape `to` to the flat index in a tensor of shape `from`.
    public static func broadcastIndexer(from: [Int], to: [Int]) -> (Int) -> Int {
        if from == to { return { $0 } }
        let padded = [Int](repeating: 1, count: to.count - from.count) + from
        let fromStrides = strides(padded)
        let toStrides = strides(to)
        return { i in
            var rem = i, o = 0
            for d in to.indices {
                let c = rem / max(toStrides[d], 1)
                rem -= c * toStrides[d]
                if padded[d] != 1 { o += c * fromStrides[d] }
            }
            return o
        }
    }

    public static func reshape(_ shape: [Int], to target: [Int]) throws(Failure) -> [Int] {
        let count = shape.reduce(1, *)
        let unknown = target.indices.filter { target[$0] == -1 }
        guard unknown.count <= 1, target.allSatisfy({ $0 >= -1 }) else { throw Failure("reshape target \(target) is invalid") }
        var out = target
        let known = target.filter { $0 != -1 }.reduce(1, *)
        if let u = unknown.first {
            guard known > 0, count % known == 0 else { throw Failure("cannot reshape \(shape) (\(count) elements) to \(target)") }
            out[u] = count / known
        }
        guard out.reduce(1, *) == count else { throw Failure("cannot reshape \(shape) (\(count) elements) to \(target)") }
        return out
    }

    public static func squeeze(_ shape: [Int], axes: [Int]) throws(Failure) -> [Int] {
        if axes.isEmpty { return shape.filter { $0 != 1 } }
        let normalized = Set(axes.map { $0 < 0 ? $0 + shape.count : $0 })
        for a in normalized where !(0..<shape.count).contains(a) || shape[a] != 1 {
            throw Failure("cannot squeeze axis \(a) of shape \(shape)")
        }
        return shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
    }

    public static func expandDims(_ shape: [Int], axis: Int) throws(Failure) -> [Int] {
        let a = axis < 0 ? axis + shape.count + 1 : axis
        guard (0...shape.count).contains(a) else { throw Failure("expand_dims axis \(axis) out of range for shape \(shape)") }
        return Array(shape[..<a]) + [1] + Array(shape[a...])
    }

    public static func transpose(_ shape: [Int], perm: [Int]) throws(Failure) -> [Int] {
        guard perm.count == shape.count, Set(perm) == Set(0..<shape.count) else {
            throw Failure("permutation \(perm) does not fit shape \(shape)")
        }
        return perm.map { shape[$0] }
    }
}
