import TFProto
import TensorFlowIO

/// Dropout left in an inference graph, removed: at inference every value passes unscaled, so
/// the dropout's output is its input. TensorFlow writes dropout as a random mask combined with
/// the scaled input:
///
///     tf.nn.dropout (TF >= 1.13):  Mul(Mul(x, 1 / (1 - rate)), Cast(GreaterEqual(RandomUniform, rate)))
///                                  or SelectV2(GreaterEqual(...), Mul(x, scale), zeros)
///     tf.nn.dropout (older):       Mul(RealDiv(x, keep_prob), Floor(Add(keep_prob, RandomUniform)))
///
/// with `rate` / `keep_prob` a constant or a `PlaceholderWithDefault`. Every `Mul`/`Select` that
/// combines something computed from a `RandomUniform` with `x` scaled by such a constant reads
/// `x` instead; the mask, now unused, is pruned with everything else nothing needs. A random op
/// in any other place is left for the importer to refuse by name.
enum Dropout {
    /// Rewires each recognized dropout to its input; returns the names of the dropouts' outputs.
    static func remove(_ g: inout GraphEdit) -> [String] {
        let random = g.nodes.filter { $0.tfOp == .randomUniform }.map(\.name)
        guard !random.isEmpty else { return [] }
        var byName: [String: Tensorflow_NodeDef] = [:]
        var consumers: [String: [String]] = [:]
        for node in g.nodes {
            byName[node.name] = node
            for input in g.inputs(of: node) { consumers[input, default: []].append(node.name) }
        }
        // Everything a random op reaches: the mask.
        var mask = Set<String>()
        var stack = random
        while let name = stack.popLast() {
            guard mask.insert(name).inserted else { continue }
            stack += consumers[name] ?? []
        }
        // Computed from constants alone (a rate, a keep probability, their defaults).
        var constantMemo: [String: Bool] = [:]
        func isConstant(_ name: String, depth: Int = 0) -> Bool {
            if let known = constantMemo[name] { return known }
            guard depth < 64, let node = byName[name], !mask.contains(name) else { return false }
            let value: Bool
            switch node.tfOp {
            case .const?: value = true
            case .placeholder?: value = false
            default:
                let inputs = g.inputs(of: node)
                value = !inputs.isEmpty && inputs.allSatisfy { isConstant($0, depth: depth + 1) }
            }
            constantMemo[name] = value
            return value
        }
        /// `x` when `tensor` is x scaled by a constant (`x * s`, `s * x`, `x / s`), x not constant.
        func unscaled(_ tensor: String) -> String? {
            let name = TensorName(tensor).node
            guard !mask.contains(name), let node = byName[name], TensorName(tensor).outputIndex == 0 else { return nil }
            let data = node.input.filter { !$0.hasPrefix("^") }
            guard data.count == 2 else { return nil }
            let (a, b) = (data[0], data[1])
            switch node.tfOp {
            case .mul?:
                if isConstant(TensorName(b).node), !isConstant(TensorName(a).node) { return a }
                if isConstant(TensorName(a).node), !isConstant(TensorName(b).node) { return b }
            case .realDiv?, .div?:
                if isConstant(TensorName(b).node), !isConstant(TensorName(a).node) { return a }
            default: break
            }
            return nil
        }
        var removed: [String] = []
        for node in g.nodes where mask.contains(node.name) {
            let data = node.input.filter { !$0.hasPrefix("^") }
            var input: String?
            switch node.tfOp {
            case .mul?:
                guard data.count == 2 else { continue }
                let clean = data.filter { !mask.contains(TensorName($0).node) }
                if clean.count == 1 { input = unscaled(clean[0]) }
            case .select?, .selectV2?:
                guard data.count == 3, mask.contains(TensorName(data[0]).node) else { continue }
                input = unscaled(data[1])
            default: continue
            }
            guard let input else { continue }
            g.replaceUses(of: node.name, with: input)
            removed.append(node.name)
        }
        return removed
    }
}
