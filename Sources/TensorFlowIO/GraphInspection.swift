import TFProto

/// What `vaiq-build inspect` reports about a graph (also its `--json` form).
public struct GraphInspection: Codable, Sendable {
    public struct OpCount: Codable, Sendable, Equatable {
        public let op: String
        public let count: Int
        public let role: QuantizeRole
    }

    public struct Input: Codable, Sendable, Equatable {
        public let name: String
        public let dtype: String
        public let shape: [Int]?
    }

    public struct Output: Codable, Sendable, Equatable {
        public let name: String
        public let op: String
        public let shape: [Int]?
    }

    public struct Node: Codable, Sendable, Equatable {
        public let name: String
        public let op: String
        public let shape: [Int]?
        public let role: QuantizeRole
        /// The quantizer patterns the node's op type can take part in (`TFOp.patterns`).
        public let patterns: [QuantizePattern]
    }

    public let nodeCount: Int
    public let ops: [OpCount]
    public let inputs: [Input]
    public let outputs: [Output]
    public let nodes: [Node]
    public let roleCounts: [String: Int]
    /// Op types vaiq-build's runtime cannot execute (variables and training ops excluded: freezing
    /// removes them), with their node count. Calibration, evaluation and `run` need this empty.
    public let runtimeUnsupported: [OpCount]

    /// Ops never counted as outputs even when nothing consumes them (as the vendor's inspect, which
    /// also leaves out Assign).
    static let nonOutputOps: Set<TFOp> = TFOp.neverOutputs.union([.assign])

    public init(graph: Tensorflow_GraphDef, inputShapes: [String: [Int]] = [:]) {
        let shapes = StaticShapes(graph: graph, inputShapes: inputShapes)
        var histogram: [String: Int] = [:]
        var consumed = Set<String>()
        for node in graph.node {
            histogram[node.op, default: 0] += 1
            for input in node.input { consumed.insert(TensorName(input).node) }
        }
        nodeCount = graph.node.count
        ops = histogram.map { OpCount(op: $0.key, count: $0.value, role: .of($0.key)) }
            .sorted { ($0.count, $1.op) > ($1.count, $0.op) }
        inputs = graph.node.filter { $0.tfOp == .placeholder }.map { node in
            Input(name: node.name, dtype: node.attr["dtype"]?.type.tfName ?? "?", shape: shapes[node.name])
        }
        // An output computes something from an input: what no placeholder reaches (initializers,
        // the saver, a variable's unread snapshot) and training-only ops (assignments, optimizer
        // steps, summaries) are left out, as nothing an inference graph's user would name.
        var fed = Set(graph.node.filter { $0.tfOp == .placeholder }.map(\.name))
        var changed = true
        while changed {
            changed = false
            for node in graph.node where !fed.contains(node.name)
                && node.input.contains(where: { !$0.hasPrefix("^") && fed.contains(TensorName($0).node) }) {
                fed.insert(node.name)
                changed = true
            }
        }
        outputs = graph.node.filter {
            !consumed.contains($0.name) && !Self.nonOutputOps.contains($0.tfOp) && fed.contains($0.name) && !TFOp.isTrainingOnly($0.op)
        }.map { node in
            Output(name: node.name, op: node.op, shape: shapes[node.name])
        }
        nodes = graph.node.map { node in
            Node(name: node.name, op: node.op, shape: shapes[node.name], role: node.quantizeRole, patterns: node.tfOp?.patterns ?? [])
        }
        var roles: [String: Int] = [:]
        for node in nodes { roles[node.role.rawValue, default: 0] += 1 }
        roleCounts = roles
        // What the outputs need (a variable's initializer is no part of the model).
        var needed = Set<String>()
        var stack = outputs.map(\.name)
        let byName = Dictionary(graph.node.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        while let name = stack.popLast() {
            guard needed.insert(name).inserted, let node = byName[name] else { continue }
            stack += node.input.filter { !$0.hasPrefix("^") }.map { TensorName($0).node }
        }
        var neededOps: [String: Int] = [:]
        for node in graph.node where needed.contains(node.name) { neededOps[node.op, default: 0] += 1 }
        runtimeUnsupported = neededOps.map { OpCount(op: $0.key, count: $0.value, role: .of($0.key)) }
            .sorted { ($0.count, $1.op) > ($1.count, $0.op) }
            .filter { ![.variable, .training].contains($0.role) && !GraphImporter.supportedOps.contains($0.op) }
    }
}
