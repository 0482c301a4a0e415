import Foundation
@testable import PTQ
import Quantizer
import TFProto
import Tensors
import XCTest

/// pof2s_tqt: thresholds -> positions, their initial values, shared thresholds of aligned
/// tensors, and the errors for thresholds that cannot be used.
final class TrainedThresholdsTests: XCTestCase {
    func tensor(_ node: String, _ kind: TensorKind = .activation, bits: Int = 8, position: Int? = nil) -> QuantTensor {
        var t = QuantTensor(node: node, kind: kind, mode: kind == .activation ? .activation : .weight, method: .nonOverflow, bitWidth: bits)
        t.position = position
        return t
    }

    func testPositionIsBitsMinusOneMinusTheCeilingOfTheThreshold() {
        XCTAssertEqual(TrainedThresholds.position(logThreshold: 2, bits: 8), 5)
        XCTAssertEqual(TrainedThresholds.position(logThreshold: 2.0001, bits: 8), 4)
        XCTAssertEqual(TrainedThresholds.position(logThreshold: -0.5, bits: 8), 7)
        XCTAssertEqual(TrainedThresholds.position(logThreshold: -3.2, bits: 4), 6)
    }

    func testInitialThresholdsReproduceThePlanPositions() throws {
        // Weights in [-0.75, 1.0]: the reference's log2(max(0.75, 1.0 * 128/127)) gives position 6 at 8 bits.
        var graph = GraphEdit(Tensorflow_GraphDef(), path: "")
        graph.addConstant("w", [-0.75, 0.5, 1.0], shape: [3])
        let plan = QuantizePlan(tensors: [tensor("w", .weight, position: 6), tensor("w2", .weight, position: 7),
                                          tensor("a", position: 3), tensor("never", position: 2)], groups: [])
        var statistics = CalibrationStatistics(batches: 1, tensors: [:])
        statistics.tensors["a"] = [[Float(-2), 9.5]].map { v in v.withUnsafeBufferPointer { BatchStatistics($0) } }
        graph.addConstant("w2", [-0.75, 0.5, 1.0], shape: [3])
        let initial = TrainedThresholds.initial(plan, graph: graph.graphDef, statistics: statistics, narrowActivations: false)
        XCTAssertEqual(try XCTUnwrap(initial["w/wquant"]), log2f(128 / 127), accuracy: 1e-6)
        // Position 7 (a finer choice than non-overflow, e.g. method 1): the middle of its interval.
        XCTAssertEqual(initial["w2/wquant"], -0.5)
        // Up to 9.5: log2(9.5 * 128/127) = 3.26 gives position 3.
        XCTAssertEqual(try XCTUnwrap(initial["a/aquant"]), log2f(9.5 * 128 / 127), accuracy: 1e-6)
        XCTAssertEqual(initial["never/aquant"], 4.5)
        for t in plan.tensors {
            XCTAssertEqual(TrainedThresholds.position(logThreshold: initial[t.fixNeuronName]!, bits: 8), t.position, t.node)
        }
    }

    func testAlignedActivationsShareTheLastLeadersThreshold() {
        var a = tensor("a"), b = tensor("b"), c = tensor("c"), d = tensor("d", bits: 4)
        a.alignedWith = "b"
        b.alignedWith = "c"
        d.alignedWith = "c"   // another bit width: its own threshold
        let ties = TrainedThresholds.ties(QuantizePlan(tensors: [a, b, c, d], groups: []))
        XCTAssertEqual(ties, ["a/aquant": "c/aquant", "b/aquant": "c/aquant"])
        // Cycles end instead of looping.
        var x = tensor("x"), y = tensor("y")
        x.alignedWith = "y"
        y.alignedWith = "x"
        XCTAssertEqual(TrainedThresholds.ties(QuantizePlan(tensors: [x, y], groups: [])), ["x/aquant": "y/aquant", "y/aquant": "x/aquant"])
    }

    func testApplySetsPositionsThroughTiesAndRejectsForeignCheckpoints() throws {
        let plan = QuantizePlan(tensors: [tensor("a", position: 3), tensor("b", position: 3), tensor("w", .weight, bits: 4, position: 2)],
                                groups: [])
        let applied = try TrainedThresholds.apply(["b/aquant": 1.5, "w/wquant": -1.0], to: plan, ties: ["a/aquant": "b/aquant"], path: "q")
        XCTAssertEqual(applied.tensors.map(\.position), [5, 5, 4])
        XCTAssertEqual(applied.tensors.map(\.trainedLogThreshold), [1.5, 1.5, -1.0])
        XCTAssertEqual(try TrainedThresholds.apply([:], to: plan, path: "q"), plan)
        XCTAssertThrowsError(try TrainedThresholds.apply(["other/aquant": 1], to: plan, path: "quantize/m/s/t")) { error in
            XCTAssertEqual("\(error)", "quantize/m/s/t: the checkpoint has 1 trained thresholds but none names a quantized tensor of this "
                           + "graph (first: 'other/aquant/log_th'); was it trained on another model's quantize_train_graph.pb?")
        }
    }

    func testCheckpointThresholdsMustBeFiniteFloatScalars() throws {
        let read = try TrainedThresholds.thresholds(from: ["a/aquant/log_th": Tensor([Float(1.25)], shape: []),
                                                           "conv/weights": Tensor([Float(1), 2], shape: [2])], source: "ckpt")
        XCTAssertEqual(read, ["a/aquant": 1.25])
        XCTAssertThrowsError(try TrainedThresholds.thresholds(from: ["a/aquant/log_th": Tensor([Float(1), 2], shape: [2])], source: "ckpt")) {
            XCTAssertEqual("\($0)", "ckpt: 'a/aquant/log_th' is a trained threshold but is not a float32 scalar (dtype float32, shape [2])")
        }
        XCTAssertThrowsError(try TrainedThresholds.thresholds(from: ["a/aquant/log_th": Tensor([Float.nan], shape: [])], source: "ckpt")) {
            XCTAssertEqual("\($0)", "ckpt: trained threshold 'a/aquant/log_th' is nan; training diverged")
        }
        XCTAssertEqual(try TrainedThresholds.decode(try TrainedThresholds.encode(["b": -2.5, "a": 1]), path: "f"), ["a": 1, "b": -2.5])
        XCTAssertThrowsError(try TrainedThresholds.decode(Array("[1]".utf8), path: "f"))
    }
}
