import TFProto

/// How a graph splits between a DPU target and the CPU: each node the outputs need is `dpu` (its
/// op is one of the target's `supported_ops`), `cpu` (an op the DPU does not run: one with a DPU
/// operation the target lacks, or a float op), or neither (constants, inputs, identities and the
/// ops folded into a pattern, such as a convolution's BiasAdd). A DPU subgraph is a connected
/// set of DPU nodes, joined through the neutral nodes between them but never through a CPU node:
/// every extra subgraph is one more round trip between the DPU and the CPU at run time.
public struct DPUPartition: Sendable, Equatable {
    public enum Side: String, Sendable, Codable { case dpu, cpu, neither }

    /// Each DPU subgraph's nodes, in graph order; subgraphs in the order of their first node.
    public let subgraphs: [[String]]
    /// The CPU nodes (name, op), in graph order.
    public let cpu: [(name: String, op: String)]

    public static func == (a: DPUPartition, b: DPUPartition) -> Bool {
        a.subgraphs == b.subgraphs && a.cpu.map(\.name) == b.cpu.map(\.name) && a.cpu.map(\.op) == b.cpu.map(\.op)
    }

    /// Marks a node a strategy left outside its quantized part (`input_layers`, `output_layers`):
    /// computed in float, so by the CPU, whatever its op.
    public static let floatAttribute = "_vaiq_float"

    public static func side(_ node: Tensorflow_NodeDef, supportedOps: [String]) -> Side {
        let side = opSide(node, supportedOps: supportedOps)
        return side == .dpu && node.attr[floatAttribute]?.b == true ? .cpu : side
    }

    private static func opSide(_ node: Tensorflow_NodeDef, supportedOps: [String]) -> Side {
        guard let op = node.tfOp else { return TFOp.isTrainingOnly(node.op) ? .neither : .cpu }
        // A DPU's leaky ReLU has one slope, 26/256 (optimize turns TensorFlow's 0.1 into it): any
        // other alpha is computed on the CPU.
        if op == .leakyRelu, let alpha = node.attr["alpha"]?.f, abs(alpha - 0.1) > 1e-5, abs(alpha - 26.0 / 256) > 1e-6 { return .cpu }
        if op.dpuOp != nil { return op.isSupported(by: supportedOps) ? .dpu : .cpu }
        // Quantized inside swish, but no DPU operation of any target: the CPU computes it.
        if op == .sigmoid { return .cpu }
        // A quantized model's quantize nodes are the DPU's fixed-point format, no op of their own.
        if [.fixNeuron, .fakeQuantWithMinMaxVars, .fakeQuantWithMinMaxVarsPerChannel, .fakeQuantWithMinMaxArgs].contains(op) { return .neither }
        switch op.role {
        case .float: return .cpu
        default: return .neither
        }
    }

    /// The partition of what `outputs` need (every node when `outputs` is empty).
    public init(graph: Tensorflow_GraphDef, supportedOps: [String], outputs: [String] = []) {
        var byName: [String: Tensorflow_NodeDef] = [:]
        for node in graph.node { byName[node.name] = node }
        var needed = Set<String>()
        if outputs.isEmpty {
            needed = Set(graph.node.map(\.name))
        } else {
            var stack = outputs
            while let name = stack.popLast() {
                guard needed.insert(name).inserted, let node = byName[name] else { continue }
                stack += node.input.filter { !$0.hasPrefix("^") }.map { TensorName($0).node }
            }
        }
        let order = graph.node.filter { needed.contains($0.name) }
        let dataInputs: (Tensorflow_NodeDef) -> [String] = { node in
            node.input.filter { !$0.hasPrefix("^") }.map { TensorName($0).node }.filter { needed.contains($0) && byName[$0] != nil }
        }
        // Producers before consumers (a GraphDef's node order need not be one); an edge closing
        // a cycle is ignored.
        var topological: [Tensorflow_NodeDef] = []
        var state: [String: Bool] = [:]   // false: on the stack, true: done
        for root in order where state[root.name] == nil {
            var stack: [(node: Tensorflow_NodeDef, next: Int)] = [(root, 0)]
            state[root.name] = false
            while let top = stack.last {
                let inputs = dataInputs(top.node)
                if top.next < inputs.count {
                    stack[stack.count - 1].next += 1
                    let input = inputs[top.next]
                    if state[input] == nil, let node = byName[input] {
                        state[input] = false
                        stack.append((node, 0))
                    }
                } else {
                    state[top.node.name] = true
                    topological.append(top.node)
                    stack.removeLast()
                }
            }
        }
        var side: [String: Side] = [:]
        for node in order { side[node.name] = Self.side(node, supportedOps: supportedOps) }
        // Shape arithmetic (Shape, and what computes from shapes and constants alone) folds away
        // once the batch is fixed, as a DPU model's is: neither side.
        var shapeOnly = Set<String>()
        for node in topological {
            let inputs = dataInputs(node)
            if node.tfOp == .shape || (!inputs.isEmpty && inputs.contains(where: shapeOnly.contains)
                                       && inputs.allSatisfy { shapeOnly.contains($0) || byName[$0]?.tfOp == .const }) {
                shapeOnly.insert(node.name)
            }
        }
        for name in shapeOnly { side[name] = .neither }
        // A node's level counts the CPU nodes on the way to it (the most on any path).
        var level: [String: Int] = [:]
        for node in topological {
            level[node.name] = dataInputs(node).map { (level[$0] ?? 0) + (side[$0] == .cpu ? 1 : 0) }.max() ?? 0
        }
        // Union-find over data edges that join no CPU node and no constant or input (those belong
        // to every consumer at once and would merge unrelated subgraphs).
        var parent: [String: String] = [:]
        func find(_ x: String) -> String {
            var root = x
            while let p = parent[root], p != root { root = p }
            var node = x
            while let p = parent[node], p != root { parent[node] = root; node = p }
            return root
        }
        let joins: (Tensorflow_NodeDef) -> Bool = { node in
            side[node.name] != .cpu && node.tfOp != .const && node.tfOp != .placeholder
        }
        func unite(sameLevelOnly members: Set<String>?) {
            for node in order where joins(node) && (members?.contains(node.name) ?? true) {
                for producer in dataInputs(node) {
                    guard let p = byName[producer], joins(p), members?.contains(producer) ?? true,
                          members == nil || level[producer] == level[node.name] else { continue }
                    let (a, b) = (find(node.name), find(producer))
                    if a != b { parent[a] = b }
                }
            }
        }
        for node in order where joins(node) { parent[node.name] = node.name }
        unite(sameLevelOnly: nil)
        // A DPU subgraph must be convex: nothing may leave it for the CPU and come back (swish's
        // Sigmoid between a conv and the Mul that reads both). A connected group holding both an
        // ancestor and a descendant of some CPU node is split by level: its DPU nodes then join
        // only at one level.
        var consumers: [String: [String]] = [:]
        for node in order { for input in dataInputs(node) { consumers[input, default: []].append(node.name) } }
        func reach(_ start: String, _ next: (String) -> [String]) -> Set<String> {
            var seen = Set<String>(), stack = next(start)
            while let n = stack.popLast() { if seen.insert(n).inserted { stack += next(n) } }
            return seen
        }
        var members: [String: Set<String>] = [:]
        for node in order where joins(node) { members[find(node.name), default: []].insert(node.name) }
        var broken = Set<String>()
        for cpuNode in order where side[cpuNode.name] == .cpu {
            let before = reach(cpuNode.name) { n in byName[n].map(dataInputs) ?? [] }
            let after = reach(cpuNode.name) { consumers[$0] ?? [] }
            for (root, group) in members where !broken.contains(root) && !group.isDisjoint(with: before) && !group.isDisjoint(with: after) {
                broken.insert(root)
            }
        }
        for root in broken.sorted() {
            let group = members[root]!
            for name in group { parent[name] = name }
            unite(sameLevelOnly: group)
        }
        var groups: [String: [String]] = [:]
        var firstSeen: [String] = []
        for node in order where side[node.name] == .dpu {
            let root = find(node.name)
            if groups[root] == nil { firstSeen.append(root) }
            groups[root, default: []].append(node.name)
        }
        subgraphs = firstSeen.map { groups[$0]! }
        cpu = order.filter { side[$0.name] == .cpu }.map { ($0.name, $0.op) }
    }
}
