import TFProto
import TensorFlowIO
import XCTest

/// DPU subgraphs: connected DPU nodes, joined through neutral nodes (BiasAdd, Identity), split by
/// every CPU node; constants and inputs join nothing.
final class DPUPartitionTests: XCTestCase {
    private func node(_ name: String, _ op: TFOp, _ inputs: [String] = []) -> Tensorflow_NodeDef {
        var n = Tensorflow_NodeDef()
        n.name = name
        n.op = op.rawValue
        n.input = inputs
        return n
    }

    private var graph: Tensorflow_GraphDef {
        var g = Tensorflow_GraphDef()
        g.node = [
            node("x", .placeholder), node("w1", .const), node("b1", .const), node("w2", .const), node("w3", .const),
            node("conv1", .conv2D, ["x", "w1"]), node("bias1", .biasAdd, ["conv1", "b1"]), node("relu1", .relu, ["bias1"]),
            node("gate", .sigmoid, ["relu1"]),
            node("conv2", .conv2D, ["gate", "w2"]), node("id", .identity, ["conv2"]),
            node("conv3", .conv2D, ["x", "w3"]), node("sum", .addV2, ["id", "conv3"]),
            node("probs", .softmax, ["sum"]),
        ]
        return g
    }

    func testCPUNodesSplitSubgraphsAndNeutralNodesJoinThem() {
        let all = ["conv2d", "relu", "add"]
        let p = DPUPartition(graph: graph, supportedOps: all, outputs: ["probs"])
        // conv1 -> relu1 | gate (CPU) | conv2 -> id -> sum <- conv3: conv3 joins through sum, not through x.
        XCTAssertEqual(p.subgraphs, [["conv1", "relu1"], ["conv2", "conv3", "sum"]])
        XCTAssertEqual(p.cpu.map(\.name), ["gate", "probs"])
        // A target without add: sum goes to the CPU and splits conv2 from conv3.
        let noAdd = DPUPartition(graph: graph, supportedOps: ["conv2d", "relu"], outputs: ["probs"])
        XCTAssertEqual(noAdd.subgraphs, [["conv1", "relu1"], ["conv2"], ["conv3"]])
        XCTAssertEqual(noAdd.cpu.map(\.name), ["gate", "sum", "probs"])
        // A leaky ReLU with the DPU's slope (0.1, which optimize makes 26/256) joins; another alpha is a CPU op.
        var leaky = graph
        var relu = node("relu1", .leakyRelu, ["bias1"])
        relu.attr["alpha"] = { var a = Tensorflow_AttrValue(); a.f = 0.1; return a }()
        leaky.node[7] = relu
        XCTAssertEqual(DPUPartition(graph: leaky, supportedOps: all + ["leaky_relu"], outputs: ["relu1"]).subgraphs, [["conv1", "relu1"]])
        relu.attr["alpha"]!.f = 0.2
        leaky.node[7] = relu
        let steep = DPUPartition(graph: leaky, supportedOps: all + ["leaky_relu"], outputs: ["relu1"])
        XCTAssertEqual(steep.subgraphs, [["conv1"]])
        XCTAssertEqual(steep.cpu.map(\.name), ["relu1"])
        // Only what the outputs need.
        XCTAssertEqual(DPUPartition(graph: graph, supportedOps: all, outputs: ["relu1"]).subgraphs, [["conv1", "relu1"]])
    }

    /// Swish on a target without sigmoid: conv -> Sigmoid (CPU) -> Mul <- conv. One connected
    /// group would leave for the CPU and come back, so the Mul starts a second subgraph; a branch
    /// that only joins later (conv3 above) still shares one.
    func testACPUNodeBetweenTwoDPUNodesOfOneGroupSplitsIt() {
        var g = Tensorflow_GraphDef()
        g.node = [
            node("x", .placeholder), node("w1", .const), node("w2", .const),
            node("conv1", .conv2D, ["x", "w1"]), node("sig", .sigmoid, ["conv1"]), node("swish", .mul, ["conv1", "sig"]),
            node("conv2", .conv2D, ["swish", "w2"]),
        ]
        let p = DPUPartition(graph: g, supportedOps: ["conv2d", "mul"], outputs: ["conv2"])
        XCTAssertEqual(p.subgraphs, [["conv1"], ["swish", "conv2"]])
        XCTAssertEqual(p.cpu.map(\.name), ["sig"])
        // Without the CPU node between them, one subgraph.
        var relu = g
        relu.node[4] = node("sig", .relu, ["conv1"])
        XCTAssertEqual(DPUPartition(graph: relu, supportedOps: ["conv2d", "mul", "relu"], outputs: ["conv2"]).subgraphs,
                       [["conv1", "sig", "swish", "conv2"]])
    }
}
