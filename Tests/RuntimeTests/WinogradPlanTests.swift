import GraphIR
import Runtime
import Tensors
import XCTest

/// The planner's Winograd choice: an eligible float 3x3/1 conv becomes a `winograd` step (filter
/// transformed once), close to the direct plan; quantized weights (FixNeuron) stay direct.
final class WinogradPlanTests: XCTestCase {
    func graph(quantizedWeights: Bool) -> (Graph, ValueRef) {
        var g = Graph()
        let (inC, outC) = (16, 24)
        let x = g.add(Node(name: "x", op: .input(dtype: .float32, shape: [-1, 12, 12, inC]), inputs: [], sourceOp: "Placeholder"))
        let values = (0..<9 * inC * outC).map { Float(($0 * 37) % 101 - 50) / 400 }
        var w = g.add(Node(name: "w", op: .constant(Tensor(values, shape: [3, 3, inC, outC])), inputs: [], sourceOp: "Const"))
        if quantizedWeights {
            w = g.add(Node(name: "w_fix", op: .fixNeuron(bitWidth: 8, position: 7, mode: 0), inputs: [ValueRef(w)], sourceOp: "FixNeuron"))
        }
        let conv = g.add(Node(name: "conv", op: .conv2d(Convolution(padding: .same)), inputs: [ValueRef(x), ValueRef(w)], sourceOp: "Conv2D"))
        let relu = g.add(Node(name: "y", op: .unary(.relu), inputs: [ValueRef(conv)], sourceOp: "Relu"))
        return (g, ValueRef(relu))
    }

    func testEligibleConvRunsByWinogradCloseToDirect() throws {
        let (g, y) = graph(quantizedWeights: false)
        let winograd = Runtime(graph: g, outputs: [("y", y)])
        let direct = Runtime(graph: g, outputs: [("y", y)], options: PlanOptions(winograd: false))
        let shape = [2, 12, 12, 16]
        XCTAssertTrue(try winograd.plan(for: ["x": shape]).stepKinds.contains { $0.kernel.contains("winograd") })
        XCTAssertFalse(try direct.plan(for: ["x": shape]).stepKinds.contains { $0.kernel.contains("winograd") })
        let x = Tensor((0..<shape.reduce(1, *)).map { Float(($0 * 13) % 29 - 14) / 7 }, shape: shape)
        let a = try winograd.run(["x": x], threads: 2)[0].tensor.floatValues()
        let b = try direct.run(["x": x], threads: 2)[0].tensor.floatValues()
        let scale = b.map(abs).max()!
        XCTAssertLessThanOrEqual(zip(a, b).map { abs($0 - $1) }.max()!, 1e-4 * scale)
        let one = try winograd.run(["x": x], threads: 1)[0].tensor
        XCTAssertEqual(one, try winograd.run(["x": x], threads: 2)[0].tensor, "bit-identical at 1 and 2 threads")
    }

    func testQuantizedWeightsStayDirect() throws {
        let (g, y) = graph(quantizedWeights: true)
        let plan = try Runtime(graph: g, outputs: [("y", y)]).plan(for: ["x": [2, 12, 12, 16]])
        XCTAssertFalse(plan.stepKinds.contains { $0.kernel.contains("winograd") })
        XCTAssertTrue(plan.stepKinds.contains { $0.kernel.hasPrefix("conv2d") })
    }
}
