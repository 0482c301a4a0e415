import GraphIR
import Runtime
import Tensors
import XCTest

/// Pad -> MaxPool folds into one max-pool step whose padded cells take part in the max as the
/// pad value: the result is exactly that of padding and then pooling (unfused plan), for zero and
/// non-zero pad values, symmetric and asymmetric paddings, VALID and SAME windows.
final class PoolPadFoldTests: XCTestCase {
    func graph(pads: [Int32], value: Float, padding: Padding, extraReader: Bool = false) -> (Graph, [(String, ValueRef)]) {
        var g = Graph()
        let x = g.add(Node(name: "x", op: .input(dtype: .float32, shape: [-1, 9, 10, 5]), inputs: [], sourceOp: "Placeholder"))
        let p = g.add(Node(name: "paddings", op: .constant(Tensor(pads, shape: [4, 2])), inputs: [], sourceOp: "Const"))
        let v = g.add(Node(name: "value", op: .constant(Tensor([value], shape: [])), inputs: [], sourceOp: "Const"))
        let pad = g.add(Node(name: "pad", op: .pad, inputs: [ValueRef(x), ValueRef(p), ValueRef(v)], sourceOp: "PadV2"))
        let window = Window(sizeH: 3, sizeW: 3, strideH: 2, strideW: 2, padding: padding)
        let pool = g.add(Node(name: "y", op: .pool(.max, window), inputs: [ValueRef(pad)], sourceOp: "MaxPool"))
        var outputs = [("y", ValueRef(pool))]
        if extraReader {
            let relu = g.add(Node(name: "z", op: .unary(.relu), inputs: [ValueRef(pad)], sourceOp: "Relu"))
            outputs.append(("z", ValueRef(relu)))
        }
        return (g, outputs)
    }

    func check(pads: [Int32], value: Float, padding: Padding, file: StaticString = #filePath, line: UInt = #line) throws {
        let (g, outputs) = graph(pads: pads, value: value, padding: padding)
        let fused = Runtime(graph: g, outputs: outputs)
        let unfused = Runtime(graph: g, outputs: outputs, options: PlanOptions(fuse: false))
        let shape = [2, 9, 10, 5]
        XCTAssertEqual(try fused.plan(for: ["x": shape]).stepCount, 1, "the pad step is folded", file: file, line: line)
        XCTAssertEqual(try unfused.plan(for: ["x": shape]).stepCount, 2, file: file, line: line)
        let x = Tensor((0..<shape.reduce(1, *)).map { Float(($0 * 53) % 97 - 85) / 16 }, shape: shape)
        let a = try fused.run(["x": x], threads: 2)[0].tensor, b = try unfused.run(["x": x], threads: 1)[0].tensor
        XCTAssertEqual(a.shape, b.shape, file: file, line: line)
        XCTAssertEqual(a.floatValues(), b.floatValues(), "pads \(pads) value \(value) \(padding)", file: file, line: line)
    }

    func testZeroPadFoldsExactly() throws {
        try check(pads: [0, 0, 1, 1, 1, 1, 0, 0], value: 0, padding: .valid)
    }

    func testNonZeroAndAsymmetricPadsFoldExactly() throws {
        try check(pads: [0, 0, 0, 2, 1, 0, 0, 0], value: -1.5, padding: .valid)
        try check(pads: [0, 0, 2, 1, 1, 2, 0, 0], value: 2.25, padding: .valid)
        try check(pads: [0, 0, 3, 3, 3, 3, 0, 0], value: -0.5, padding: .valid)  // whole windows of padding
    }

    func testSamePoolingOrBatchPaddingOrOtherReadersDoNotFold() throws {
        for (pads, extra) in [([Int32](arrayLiteral: 0, 0, 1, 1, 1, 1, 0, 0), true), ([1, 0, 1, 1, 1, 1, 0, 0], false)] {
            let (g, outputs) = graph(pads: pads, value: 0, padding: .valid, extraReader: extra)
            XCTAssertGreaterThan(try Runtime(graph: g, outputs: outputs).plan(for: ["x": [2, 9, 10, 5]]).stepCount, outputs.count)
        }
        let (g, outputs) = graph(pads: [0, 0, 1, 1, 1, 1, 0, 0], value: 0, padding: .same)
        XCTAssertEqual(try Runtime(graph: g, outputs: outputs).plan(for: ["x": [2, 9, 10, 5]]).stepCount, 2)
    }
}
