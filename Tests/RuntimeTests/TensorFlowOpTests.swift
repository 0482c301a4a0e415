import Foundation
import GraphIR
import Runtime
import TensorFlowIO
import Tensors
import XCTest

/// Every case of Tests/Fixtures/ops (tools/make_op_fixtures.py: tiny frozen TensorFlow graphs and
/// TensorFlow's outputs) imported and run by our runtime, fused and unfused, at 1 and 2 threads.
/// Tolerance per case from index.json: max |ours - TF| <= rtol_of_max * max |TF| (1e-4 unless
/// the case says why not).
final class TensorFlowOpTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/ops").standardized.path

    struct Index: Decodable { let cases: [Case] }
    struct Case: Decodable {
        struct File: Decodable { let node: String; let file: String }
        let name: String
        let op: String
        let rtol_of_max: Float
        let inputs: [File]
        let outputs: [File]
    }

    static func load(_ path: String) throws -> Tensor {
        try NPY.decode(Array(Data(contentsOf: URL(fileURLWithPath: path))), name: path)
    }

    func load(_ path: String) throws -> Tensor { try Self.load(path) }

    func testEveryOpMatchesTensorFlow() throws {
        let index = try JSONDecoder().decode(Index.self, from: Data(contentsOf: URL(fileURLWithPath: "\(Self.directory)/index.json")))
        XCTAssertGreaterThan(index.cases.count, 100)
        var covered = Set<String>()
        // Dropout cases expect the model without its dropout, which optimize removes (PTQTests).
        for c in index.cases where c.op != TFOp.randomUniform.rawValue {
            do { try check(c) } catch { XCTFail("\(c.name) (\(c.op)): \(error)") }
            covered.insert(c.op)
        }
        let required: Set<String> = [
            "Conv2D", "DepthwiseConv2dNative", "Conv2DBackpropInput", "MatMul", "Add", "AddV2", "Sub", "Mul", "Relu", "Relu6",
            "LeakyRelu", "Sigmoid", "Swish", "HardSigmoid", "HardSwish", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3",
            "MaxPool", "AvgPool", "Mean", "Pad", "ConcatV2", "Reshape", "Squeeze", "ExpandDims", "Softmax", "ResizeBilinear",
            "ResizeNearestNeighbor", "Identity", "Shape", "StridedSlice",
        ]
        XCTAssertEqual(required.subtracting(covered), [], "ops without a TensorFlow fixture")
    }

    func check(_ c: Case) throws {
        let dir = "\(Self.directory)/\(c.name)"
        let graphDef = try GraphDefIO.read("\(dir)/model.pb")
        let imported = try GraphImporter.importGraph(graphDef, outputs: c.outputs.map(\.node), path: c.name)
        var feeds: [String: Tensor] = [:]
        for input in c.inputs { feeds[input.node] = try load("\(dir)/\(input.file)") }
        for (fuse, threads) in [(true, 1), (true, 2), (false, 1)] {
            let runtime = Runtime(graph: imported.graph, outputs: Array(zip(c.outputs.map(\.node), imported.outputs)),
                                  options: PlanOptions(fuse: fuse))
            let results = try runtime.run(feeds, threads: threads)
            for (output, result) in zip(c.outputs, results) {
                let expected = try load("\(dir)/\(output.file)")
                XCTAssertEqual(result.tensor.shape, expected.shape, "\(c.name) \(output.node)")
                guard result.tensor.shape == expected.shape else { continue }
                let ours = result.tensor.floatValues(), theirs = expected.floatValues()
                let scale = theirs.map(abs).max() ?? 0
                let error = zip(ours, theirs).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(error, c.rtol_of_max * max(scale, 1e-6),
                                         "\(c.name) (\(c.op)) fuse=\(fuse) threads=\(threads): max error \(error), max |expected| \(scale)")
            }
        }
    }

    func testFusionTurnsConvBatchNormRelu6IntoOneStep() throws {
        let dir = "\(Self.directory)/block_conv_bn_relu6"
        let imported = try GraphImporter.importGraph(try GraphDefIO.read("\(dir)/model.pb"), outputs: ["y"], path: "block")
        let fused = try Runtime(graph: imported.graph, outputs: [("y", imported.outputs[0])]).plan(for: ["x": [2, 15, 15, 3]])
        let unfused = try Runtime(graph: imported.graph, outputs: [("y", imported.outputs[0])], options: PlanOptions(fuse: false))
            .plan(for: ["x": [2, 15, 15, 3]])
        XCTAssertLessThan(fused.stepCount, unfused.stepCount)
        // Asking to observe the conv keeps it out of the fused chain.
        let conv = imported.graph.nodes.first { if case .conv2d = $0.op { true } else { false } }!.name
        let observed = try Runtime(graph: imported.graph, outputs: [("y", imported.outputs[0])],
                                   options: PlanOptions(preserve: [conv])).plan(for: ["x": [2, 15, 15, 3]])
        XCTAssertTrue(observed.observedNames.contains(conv))
        XCTAssertFalse(fused.observedNames.contains(conv))
    }

    func testObserverSeesEveryStepAndResultsDoNotDependOnThreads() throws {
        let dir = "\(Self.directory)/block_inverted_residual"
        let imported = try GraphImporter.importGraph(try GraphDefIO.read("\(dir)/model.pb"), outputs: ["y"], path: "block")
        let runtime = Runtime(graph: imported.graph, outputs: [("y", imported.outputs[0])])
        let x = try load("\(dir)/in_x.npy")
        nonisolated(unsafe) var seen: [String] = []
        let one = try runtime.run(["x": x], threads: 1) { name, shape, values in
            seen.append(name)
            XCTAssertEqual(values.count, shape.reduce(1, *))
        }
        let plan = try runtime.plan(for: ["x": x.shape])
        XCTAssertEqual(seen, plan.observedNames)
        let two = try runtime.run(["x": x], threads: 2)
        XCTAssertEqual(one[0].tensor, two[0].tensor, "bit-identical at 1 and 2 threads")
    }

    func testErrorsNameTheNodeAndTheInput() throws {
        let dir = "\(Self.directory)/conv2d_0"
        let imported = try GraphImporter.importGraph(try GraphDefIO.read("\(dir)/model.pb"), outputs: ["y"], path: "conv2d_0")
        let runtime = Runtime(graph: imported.graph, outputs: [("y", imported.outputs[0])])
        XCTAssertThrowsError(try runtime.run(["x": Tensor([Float](repeating: 0, count: 9 * 9 * 2), shape: [1, 9, 9, 2])])) {
            XCTAssertEqual("\($0)", "node 'x' (Placeholder): input shape [1, 9, 9, 2] does not match the placeholder's shape [\"1\", \"9\", \"9\", \"3\"]")
        }
        XCTAssertThrowsError(try runtime.run(["x": Tensor([Int32](repeating: 0, count: 243), shape: [1, 9, 9, 3])])) {
            XCTAssertEqual("\($0)", "input 'x': expected float32 values, got int32")
        }
        XCTAssertThrowsError(try runtime.run(["nope": Tensor([Float](), shape: [0])])) {
            XCTAssertEqual("\($0)", "input 'nope' is not a node of the graph")
        }
        var graphDef = try GraphDefIO.read("\(dir)/model.pb")
        for i in graphDef.node.indices where graphDef.node[i].op == "Conv2D" { graphDef.node[i].op = "Conv3D" }
        XCTAssertThrowsError(try GraphImporter.importGraph(graphDef, outputs: ["y"], path: "m.pb")) { error in
            XCTAssertTrue("\(error)".hasPrefix("m.pb: node '"), "\(error)")
            XCTAssertTrue("\(error)".hasSuffix("': op Conv3D is not supported by the vaiq-build runtime"), "\(error)")
        }
    }
}
