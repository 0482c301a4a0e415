import BuildCore
import FileIO
import Foundation
import TFProto
import TensorFlowIO
import Tensors
@testable import Pipeline
import XCTest

/// Keras-exported frozen graphs end in a NoOp that waits (control inputs) on every
/// ReadVariableOp; optimizing folds those reads away, so the graph kept around the quantized
/// range is a fragment naming nodes it does not hold. A quantize must still read and merge it.
final class FragmentGraphTests: XCTestCase {
    func testTrailingNoOpOnFoldedReadsQuantizes() throws {
        let work = try TestRepository.make("vaiq-fragment")
        defer { try? FileManager.default.removeItem(atPath: work) }
        var g = GraphBuilder()
        g.placeholder("x", shape: [-1, 4, 4, 2])
        g.constant("w", [0.5, -0.25, 0.75, 1, -0.5, 0.25], shape: [1, 1, 2, 3])
        g.op("w/read", "Identity", ["w"])
        g.conv("conv", "x", "w/read")
        g.op("y", "Relu", ["conv"])
        g.op("NoOp", "NoOp", ["^w/read", "^y"])
        try GraphDefIO.write(g.graph, to: "\(work)/model.pb")
        try FileIO.writeAtomically(NPY.encode(Tensor((0..<64).map { Float($0 % 7) - 3 }, shape: [2, 4, 4, 2])), to: "\(work)/x.npy")

        let job = QuantizeJob.oneShot(graph: "\(work)/model.pb", inputNodes: ["x"], outputNodes: ["y"], inputShapes: [[-1, 4, 4, 2]],
                                      calibration: ["x": "\(work)/x.npy"], batchSize: 2, iterations: 1, evaluation: nil,
                                      strategy: QuantizeStrategy(), target: try BuiltinSettings.target("DPUCZDX8G"), outputFolder: "\(work)/out")
        _ = try job.run(threads: 1)
        // The written model loads as a whole graph: the NoOp keeps only inputs that still exist.
        let model = try GraphDefIO.read("\(work)/out/quantize_eval_model.pb")
        XCTAssertEqual(model.node.first { $0.name == "NoOp" }?.input, ["^y"])
    }
}
