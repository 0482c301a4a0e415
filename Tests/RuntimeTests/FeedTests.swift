import GraphIR
import Runtime
import Tensors
import XCTest

/// A value given for a node that is not a placeholder replaces that node's output, as a
/// TensorFlow feed does: nothing before it runs (its placeholders need no value), the result is
/// the same bits as computing that value, and a fed node is never fused into the step before it
/// (when that step runs for another output).
final class FeedTests: XCTestCase {
    /// x -> conv 1x1 -> bias -> relu6 -> depthwise 3x3 -> relu6 (y).
    func graph() -> Graph {
        var g = Graph()
        func const(_ name: String, _ shape: [Int], _ seed: Int) -> ValueRef {
            let values = (0..<shape.reduce(1, *)).map { Float((($0 + seed) * 37) % 101 - 50) / 120 }
            return ValueRef(g.add(Node(name: name, op: .constant(Tensor(values, shape: shape)), inputs: [], sourceOp: "Const")))
        }
        let x = ValueRef(g.add(Node(name: "x", op: .input(dtype: .float32, shape: [-1, 9, 7, 4]), inputs: [], sourceOp: "Placeholder")))
        let conv = g.add(Node(name: "conv", op: .conv2d(Convolution(padding: .valid)), inputs: [x, const("w1", [1, 1, 4, 16], 1)],
                              sourceOp: "Conv2D"))
        let bias = g.add(Node(name: "bias", op: .biasAdd, inputs: [ValueRef(conv), const("b1", [16], 2)], sourceOp: "BiasAdd"))
        let relu = g.add(Node(name: "relu", op: .unary(.relu6), inputs: [ValueRef(bias)], sourceOp: "Relu6"))
        let dw = g.add(Node(name: "dw", op: .depthwiseConv2d(Convolution(padding: .same)), inputs: [ValueRef(relu), const("w2", [3, 3, 16, 1], 3)],
                            sourceOp: "DepthwiseConv2dNative"))
        g.add(Node(name: "y", op: .unary(.relu6), inputs: [ValueRef(dw)], sourceOp: "Relu6"))
        return g
    }

    static func values(_ n: Int, _ f: (Int) -> Float) -> [Float] { (0..<n).map(f) }

    func refs(_ g: Graph, _ names: [String]) -> [(name: String, ref: ValueRef)] { names.map { ($0, ValueRef(g.index(of: $0)!)) } }

    func testAFedNodeReplacesItsValueAndNothingBeforeItRuns() throws {
        let g = graph()
        let x = Tensor(Self.values(2 * 9 * 7 * 4) { Float(($0 * 29) % 83 - 41) / 20 }, shape: [2, 9, 7, 4])
        let whole = try Runtime(graph: g, outputs: refs(g, ["relu", "y"])).run(["x": x], threads: 2)
        let fromRelu = Runtime(graph: g, outputs: refs(g, ["y"]))
        // The computed value fed back gives the same bits, without x.
        XCTAssertEqual(try fromRelu.run(["relu": whole[0].tensor], threads: 2)[0].tensor, whole[1].tensor)
        let plan = try fromRelu.plan(for: ["relu": whole[0].tensor.shape])
        XCTAssertEqual(plan.stepCount, 1, "the depthwise conv with its relu6, nothing before")
        // Another value gives another result: the feed is used, not the graph's own value.
        let zeros = Tensor([Float](repeating: 0, count: whole[0].tensor.shape.reduce(1, *)), shape: whole[0].tensor.shape)
        XCTAssertNotEqual(try fromRelu.run(["relu": zeros], threads: 1)[0].tensor, whole[1].tensor)
    }

    func testAFedFollowerIsNotFusedIntoTheStepBeforeIt() throws {
        let g = graph()
        let x = Tensor(Self.values(9 * 7 * 4) { Float(($0 * 13) % 71 - 35) / 10 }, shape: [1, 9, 7, 4])
        let shape = [1, 9, 7, 16]
        let fed = Tensor(Self.values(9 * 7 * 16) { Float(($0 * 7) % 19 - 9) }, shape: shape)
        // The conv runs (it is an output) while its bias add is fed: relu6 must read the fed value.
        let both = try Runtime(graph: g, outputs: refs(g, ["conv", "relu"])).run(["x": x, "bias": fed], threads: 1)
        let alone = try Runtime(graph: g, outputs: refs(g, ["relu"])).run(["bias": fed], threads: 1)
        XCTAssertEqual(both[1].tensor, alone[0].tensor)
        XCTAssertEqual(alone[0].tensor.scalars(as: Float.self), fed.scalars(as: Float.self).map { min(6, max(0, $0)) })
    }

    func testUnknownFeedIsOneError() {
        let g = graph()
        XCTAssertThrowsError(try Runtime(graph: g, outputs: refs(g, ["y"])).run(["nope": Tensor([Float(1)], shape: [1])])) {
            XCTAssertEqual("\($0)", "input 'nope' is not a node of the graph")
        }
    }
}
