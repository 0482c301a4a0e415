import TFProto
import TensorFlowIO
import Tensors

/// Cross-layer equalization (spec 6.1; Nagel et al., arXiv:1906.04721): in chains of convolutions
/// joined by positively homogeneous ops, output channel c of a conv is scaled by s[c] and input
/// channel c of the next divided by it, so that both weight ranges become sqrt(r1 * r2) and
/// per-tensor quantization loses less. The float function is unchanged (Relu6 is not
/// homogeneous, so with `replaceRelu6` every Relu6 becomes Relu first, as the reference does).
enum CrossLayerEqualization {
    static func apply(_ g: inout GraphEdit, outputs: [String], replaceRelu6: Bool) {
        if replaceRelu6 { for i in g.nodes.indices where g.nodes[i].tfOp == .relu6 { g.nodes[i].op = TFOp.relu.rawValue } }
        let chains = findChains(g, outputs: outputs)
        for _ in 0..<10 {
            for chain in chains {
                for j in 0..<(chain.count - 1) { equalize(&g, head: chain[j], tail: chain[j + 1]) }
            }
        }
    }

    /// Conv chains in forward order (each at least two convs), found walking back from the outputs.
    static func findChains(_ g: GraphEdit, outputs: [String]) -> [[(conv: String, bias: String?)]] {
        var consumers: [String: Int] = [:]
        for node in g.nodes { for input in g.inputs(of: node) { consumers[input, default: 0] += 1 } }
        var visited = Set<String>()
        var chains: [[(String, String?)]] = []
        var starts = outputs
        while let start = starts.popLast() {
            var chain: [(String, String?)] = []
            var cur: String? = start
            var first = true
            while let name = cur, let node = g[name], !visited.contains(name) {
                // A chain continues only through nodes whose output has one consumer.
                if !first && consumers[name, default: 0] != 1 { starts.append(name); break }
                first = false
                visited.insert(name)
                let ins = g.inputs(of: node)
                if TFOp.biasAddOps.contains(node.tfOp), ins.count == 2, g.constant(ins[1]) != nil,
                   let conv = g[ins[0]], TFOp.equalizableConvolutionOps.contains(conv.tfOp), consumers[conv.name, default: 0] == 1, !visited.contains(conv.name) {
                    visited.insert(conv.name)
                    chain.append((conv.name, ins[1]))
                    cur = g.inputs(of: conv).first
                } else if TFOp.equalizableConvolutionOps.contains(node.tfOp), ins.count == 2, g.constant(ins[1]) != nil {
                    chain.append((node.name, nil))
                    cur = ins.first
                } else if TFOp.equalizationChainOps.contains(node.tfOp) {
                    cur = ins.first
                } else {
                    starts += ins
                    break
                }
            }
            if chain.count >= 2 { chains.append(chain.reversed()) }
        }
        return chains
    }

    static func equalize(_ g: inout GraphEdit, head: (conv: String, bias: String?), tail: (conv: String, bias: String?)) {
        guard let headNode = g[head.conv], let tailNode = g[tail.conv],
              let hw = g.inputs(of: headNode).dropFirst().first, let tw = g.inputs(of: tailNode).dropFirst().first,
              let hWeights = g.constant(hw), let tWeights = g.constant(tw), hWeights.rank == 4, tWeights.rank == 4 else { return }
        let channels = headNode.tfOp == .conv2D ? hWeights.shape[3] : hWeights.shape[2] * hWeights.shape[3]
        guard tWeights.shape[2] == channels else { return }
        var h = hWeights.floatValues(), t = tWeights.floatValues()
        var bias = head.bias.flatMap { g.constant($0) }?.floatValues()
        if let b = bias, b.count != channels { bias = nil }
        var r1 = [Float](repeating: 0, count: channels), r2 = r1
        for k in h.indices { r1[k % channels] = max(r1[k % channels], abs(h[k])) }
        if let bias { for c in 0..<channels { r1[c] = max(r1[c], abs(bias[c])) } }
        let mult = tWeights.shape[3]
        for k in t.indices { let c = (k / mult) % channels; r2[c] = max(r2[c], abs(t[k])) }
        let s = (0..<channels).map { c -> Float in
            guard r1[c] + r2[c] >= 0.5, r1[c] > 0 else { return 1 }
            return min(max((r2[c] / r1[c]).squareRoot(), 0.01), 100)
        }
        for k in h.indices { h[k] *= s[k % channels] }
        for k in t.indices { t[k] /= s[(k / mult) % channels] }
        g.setConstant(hw, h, shape: hWeights.shape)
        g.setConstant(tw, t, shape: tWeights.shape)
        if let b = bias, let name = head.bias {
            g.setConstant(name, (0..<channels).map { b[$0] * s[$0] }, shape: g.constant(name)!.shape)
        }
    }
}
