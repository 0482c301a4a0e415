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
        outputs = graph.node.filter { !consumed.contains($0.name) && !Self.nonOutputOps.contains($0.tfOp) }.map { node in
            Output(name: node.name, op: node.op, shape: shapes[node.name])
        }
        nodes = graph.node.map { node in
            Node(name: node.name, op: node.op, shape: shapes[node.name], role: node.quantizeRole, patterns: node.tfOp?.patterns ?? [])
        }
        var roles: [String: Int] = [:]
        for node in nodes { roles[node.role.rawValue, default: 0] += 1 }
        roleCounts = roles
        runtimeUnsupported = ops.filter { ![.variable, .training].contains($0.role) && !GraphImporter.supportedOps.contains($0.op) }
    }
}
