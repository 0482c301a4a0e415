import GraphIR
import Runtime
import Tensors
import XCTest

/// The planner merges a 1x1 conv (+bias, Relu6) and the depthwise conv reading it (MobileNetV2's
/// inverted residual) into one `1x1+depthwise` step, with the same bits as the two steps, and does
/// not when the 1x1's value is needed on its own (preserved, an output, or read by another node).
final class ExpandDepthwisePlanTests: XCTestCase {
    func graph(stride: Int, extraReader: Bool) -> (Graph, [(String, ValueRef)]) {
        var g = Graph()
        let (inC, mid) = (8, 48)
        func const(_ name: String, _ shape: [Int], _ seed: Int) -> ValueRef {
            let n = shape.reduce(1, *)
            let values = (0..<n).map { Float((($0 + seed) * 37) % 101 - 50) / 120 }
            return ValueRef(g.add(Node(name: name, op: .constant(Tensor(values, shape: shape)), inputs: [], sourceOp: "Const")))
        }
        let x = ValueRef(g.add(Node(name: "x", op: .input(dtype: .float32, shape: [-1, 13, 11, inC]), inputs: [], sourceOp: "Placeholder")))
        let w1 = const("w1", [1, 1, inC, mid], 1), b1 = const("b1", [mid], 2)
        let conv = g.add(Node(name: "expand", op: .conv2d(Convolution(padding: .valid)), inputs: [x, w1], sourceOp: "Conv2D"))
        let bias = g.add(Node(name: "expand_bias", op: .biasAdd, inputs: [ValueRef(conv), b1], sourceOp: "BiasAdd"))
        let relu = g.add(Node(name: "expand_relu", op: .unary(.relu6), inputs: [ValueRef(bias)], sourceOp: "Relu6"))
        let w2 = const("w2", [3, 3, mid, 1], 3)
        let dw = g.add(Node(name: "dw", op: .depthwiseConv2d(Convolution(strideH: stride, strideW: stride, padding: .same)),
                            inputs: [ValueRef(relu), w2], sourceOp: "DepthwiseConv2dNative"))
        let y = g.add(Node(name: "y", op: .unary(.relu6), inputs: [ValueRef(dw)], sourceOp: "Relu6"))
        var outputs = [("y", ValueRef(y))]
        if extraReader {
            let other = g.add(Node(name: "z", op: .unary(.relu), inputs: [ValueRef(relu)], sourceOp: "Relu"))
            outputs.append(("z", ValueRef(other)))
        }
        return (g, outputs)
    }

    func testMergedStepGivesTheSameBits() throws {
        for stride in [1, 2] {
            let (g, outputs) = graph(stride: stride, extraReader: false)
            let merged = Runtime(graph: g, outputs: outputs)
            let separate = Runtime(graph: g, outputs: outputs, options: PlanOptions(preserve: ["expand_relu"]))
            let shape = [3, 13, 11, 8]
            let mergedPlan = try merged.plan(for: ["x": shape]), separatePlan = try separate.plan(for: ["x": shape])
            XCTAssertEqual(mergedPlan.stepKinds.map(\.kernel), ["1x1+depthwise 3x3/\(stride) +act"])
            XCTAssertEqual(separatePlan.stepCount, 2)
            XCTAssertEqual(mergedPlan.flops, separatePlan.flops)
            let x = Tensor((0..<shape.reduce(1, *)).map { Float(($0 * 29) % 83 - 41) / 20 }, shape: shape)
            let a = try merged.run(["x": x], threads: 2)[0].tensor
            XCTAssertEqual(a, try separate.run(["x": x], threads: 2)[0].tensor, "stride \(stride)")
            XCTAssertEqual(a, try merged.run(["x": x], threads: 1)[0].tensor, "1 thread")
        }
    }

    func testValuesNeededElsewhereAreNotMerged() throws {
        let (g, outputs) = graph(stride: 1, extraReader: true)
        let plan = try Runtime(graph: g, outputs: outputs).plan(for: ["x": [1, 13, 11, 8]])
        XCTAssertFalse(plan.stepKinds.contains { $0.kernel.hasPrefix("1x1+depthwise") })
        let (g2, outputs2) = graph(stride: 1, extraReader: false)
        let asOutput = try Runtime(graph: g2, outputs: outputs2 + [("e", ValueRef(g2.index(of: "expand_relu")!))]).plan(for: ["x": [1, 13, 11, 8]])
        XCTAssertFalse(asOutput.stepKinds.contains { $0.kernel.hasPrefix("1x1+depthwise") })
    }
}
