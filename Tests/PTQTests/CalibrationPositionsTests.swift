import Foundation
@testable import PTQ
import Quantizer
import TFProto
import TensorFlowIO
import Tensors
import XCTest

/// On real models, every tensor calibration observes chooses, from its statistics, the position
/// the spec's exhaustive search chooses from the values (`PositionCheck`; near ties counted apart):
/// the digits example's calibration batches and the op fixtures' block models.
final class CalibrationPositionsTests: XCTestCase {
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
        result.merge(try PostTrainingQuantizer.checkPositions(optimized, outputNodes: GraphOrder.sinks(optimized), batches: batches, bits: [4, 8],
                                                              label: "digits"))
        for name in ["block_residual", "block_concat_branches", "block_squeeze_excite", "block_inverted_residual", "block_classifier"] {
            let (graph, x) = try PTQTests.fixture(name)
            result.merge(try PostTrainingQuantizer.checkPositions(try PTQTests.optimize(graph, x), outputNodes: ["y"], batches: [["x": x]],
                                                                  bits: [4, 8], label: name))
        }
        XCTAssertEqual(result.differ, [], "\(result)")
        XCTAssertGreaterThan(result.compared, 200)
        print("position search, digits and block fixtures: \(result)")
    }
}
