import Tensors

/// Output `output` of node `node` (an index into `Graph.nodes`).
public struct ValueRef: Hashable, Sendable, CustomStringConvertible {
    public var node: Int
    public var output: Int
    public init(_ node: Int, _ output: Int = 0) {
        self.node = node
        self.output = output
    }
    public var description: String { output == 0 ? "%\(node)" : "%\(node):\(output)" }
}

public struct Node: Sendable, Equatable {
    public var name: String
    public var op: Op
    public var inputs: [ValueRef]
    /// The op's name in the file it came from (e.g. `FusedBatchNormV3`), for messages.
    public var sourceOp: String

    public init(name: String, op: Op, inputs: [ValueRef], sourceOp: String) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.sourceOp = sourceOp
    }
}

/// A dataflow graph whose nodes are in topological order (every input refers to an earlier node).
public struct Graph: Sendable {
    public private(set) var nodes: [Node] = []
    private var byName: [String: Int] = [:]

    public init() {}

    /// Appends a node; its inputs must already be in the graph.
    @discardableResult
    public mutating func add(_ node: Node) -> Int {
        precondition(node.inputs.allSatisfy { $0.node < nodes.count }, "inputs of \(node.name) must precede it")
        byName[node.name] = nodes.count
        nodes.append(node)
        return nodes.count - 1
    }

    public func index(of name: String) -> Int? { byName[name] }

    public subscript(_ i: Int) -> Node { nodes[i] }

    /// Placeholders, in graph order.
    public var inputs: [Int] {
        nodes.indices.filter { if case .input = nodes[$0].op { true } else { false } }
    }

    /// For each node, the nodes that read one of its outputs.
    public func consumers() -> [[Int]] {
        var out = [[Int]](repeating: [], count: nodes.count)
        for (i, node) in nodes.enumerated() {
            for input in node.inputs where out[input.node].last != i { out[input.node].append(i) }
        }
        return out
    }

    /// The nodes `targets` depend on (themselves included), in graph order; the walk does not go
    /// past the nodes of `stops` (they are included, their inputs are not).
    public func ancestors(of targets: [Int], stoppingAt stops: Set<Int> = []) -> [Int] {
        var needed = [Bool](repeating: false, count: nodes.count)
        var stack = targets
        while let i = stack.popLast() {
            if needed[i] { continue }
            needed[i] = true
            if stops.contains(i) { continue }
            stack += nodes[i].inputs.map(\.node).filter { !needed[$0] }
        }
        return nodes.indices.filter { needed[$0] }
    }
}
