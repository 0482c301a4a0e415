import Foundation
@testable import PTQ
import Quantizer
import Runtime
import TFProto
import TensorFlowIO
import Tensors
import XCTest

/// On real models, every tensor calibration observes chooses, from its statistics, the position
/// the spec's exhaustive search chooses from the values (`PositionCheck`; near ties counted apart):
/// the digits example's calibration batches and the op fixtures' block models.
final class CalibrationPositionsTests: XCTestCase {
    /// Runs calibration's observation of `graph` on `batches` and checks every observed tensor.
    private func check(_ graph: Tensorflow_GraphDef, outputs: [String], batches: [[String: Tensor]], label: String,
                       into result: inout PositionCheck) throws {
        let located = Locator.locate(graph, QuantizeConfig())
        let observed = Set(located.tensors.filter { $0.kind == .activation }.map(\.node) + located.groups.map(\.input))
        let imported = try GraphImporter.importGraph(graph, outputs: outputs, path: label)
        let runtime = Runtime(graph: imported.graph, outputs: Array(zip(outputs, imported.outputs)), options: PlanOptions(preserve: observed))
        for (b, batch) in batches.enumerated() {
            nonisolated(unsafe) var seen: [(String, [Float])] = []
            _ = try runtime.run(batch) { name, _, values in if observed.contains(name) { seen.append((name, Array(values))) } }
            for (name, values) in seen { result.check(values, "\(label) batch \(b) \(name)", bits: [4, 8]) }
        }
    }

    func testObservedTensorsChooseTheExhaustivePositions() throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        var result = PositionCheck()
        let digits = root.path + "/examples/digits"
        let reader = try CheckpointReader(prefix: try CheckpointLocation.resolve(digits + "/models/digits/train_dir").prefix)
        let frozen = try GraphFreezer.freeze(try GraphDefIO.read(digits + "/models/digits/inference_graph.pb"), checkpoint: reader,
                                             outputNodes: ["logits"], graphPath: "digits").graph
        let optimized = try Optimizer.optimize(frozen, OptimizeOptions(inputNodes: ["input"], outputNodes: ["logits"], inputShapes: [[-1, 32, 32, 1]]),
                                               path: "digits")
        let calib = try NPY.decode(try Array(Data(contentsOf: URL(fileURLWithPath: digits + "/data/calib.npy"))), name: "calib")
        let batches = try DataBatches.split(["input": calib], batchSize: 20, limit: 3)
        try check(optimized, outputs: GraphOrder.sinks(optimized), batches: batches, label: "digits", into: &result)
        for name in ["block_residual", "block_concat_branches", "block_squeeze_excite", "block_inverted_residual", "block_classifier"] {
            let (graph, x) = try PTQTests.fixture(name)
            try check(try PTQTests.optimize(graph, x), outputs: ["y"], batches: [["x": x]], label: name, into: &result)
        }
        XCTAssertEqual(result.differ, [], "\(result)")
        XCTAssertGreaterThan(result.compared, 200)
        print("position search, digits and block fixtures: \(result)")
    }
}
