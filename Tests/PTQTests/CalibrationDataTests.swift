import Foundation
@testable import PTQ
import Quantizer
import TFProto
import TensorFlowIO
import Tensors
import XCTest

/// Calibration data the statistics must survive: non-finite values are one error naming the
/// node and batch; huge values cost no more memory than small ones.
final class CalibrationDataTests: XCTestCase {
    private func calibrate(_ batches: [[Float]]) throws -> CalibrationStatistics {
        let (graph, x) = try PTQTests.fixture("unary_relu")
        let optimized = try PTQTests.optimize(graph, x)
        let count = x.shape.reduce(1, *)
        return try PostTrainingQuantizer.calibrate(optimized, outputNodes: ["y"], batches: batches.map { values in
            ["x": Tensor((0..<count).map { values[$0 % values.count] }, shape: x.shape)]
        }, threads: 2, path: "m.pb")
    }

    func testNonFiniteValuesAreOneErrorNamingNodeAndBatch() throws {
        for bad in [Float.nan, .infinity, -.infinity] {
            XCTAssertThrowsError(try calibrate([[1, 2], [0.5, bad, -3]])) { error in
                XCTAssertEqual("\(error)", "m.pb: calibration batch 2 of 2: node 'x' computes \(bad) (element 1); "
                               + "positions need finite values: check the calibration data and the model")
            }
        }
    }

    func testHugeAndSubnormalValuesGivePositionsAndABoundedHistogram() throws {
        for extreme: Float in [1e6, 1e19, 1e30, 1e37, 1e-39, .leastNonzeroMagnitude] {
            let statistics = try calibrate([[0.25, -0.5, 1], [1, extreme, -2], [extreme, -extreme]])
            let histogram = try XCTUnwrap(statistics.histograms["x"])
            XCTAssertLessThanOrEqual(histogram.counts.count, AbsHistogram.maxBins, "\(extreme)")
            XCTAssertGreaterThanOrEqual(histogram.edge(histogram.counts.count), Double(extreme), "the range covers \(extreme)")
            let batches = try XCTUnwrap(statistics.tensors["x"])
            for bits in [1, 2, 8, 16] {
                for method in [PositionMethod.nonOverflow, .minDiffs] {
                    let p = batches[2].position(bits: bits, method: method, narrow: false)
                    // Method 0 stays in positionRange; min-diffs looks up to 4 positions above it.
                    let range = Pof2Quantizer.positionRange.lowerBound...(Pof2Quantizer.positionRange.upperBound + (method == .nonOverflow ? 0 : 4))
                    XCTAssertTrue(range.contains(p) || p == Pof2Quantizer.allZeroPosition, "\(extreme) \(bits): \(p)")
                }
            }
        }
    }

    /// A huge calibration value gives each batch the position the reference search (the spec's
    /// formulas over the batch's values) gives.
    func testHugeValuesGiveTheReferencePositions() throws {
        let (_, x) = try PTQTests.fixture("unary_relu")
        let count = x.shape.reduce(1, *)
        for extreme: Float in [1e6, 1e30] {
            let rows: [[Float]] = [[0.25, -0.5, 1], [1, extreme, -2], [extreme, -extreme, 0.125]]
            let batches = try XCTUnwrap(try calibrate(rows).tensors["x"])
            for (b, row) in rows.enumerated() {
                let values = (0..<count).map { row[$0 % row.count] }
                for bits in [4, 8, 16] {
                    for method in [PositionMethod.nonOverflow, .minDiffs] {
                        XCTAssertEqual(batches[b].position(bits: bits, method: method, narrow: false),
                                       Pof2Quantizer(bitWidth: bits, mode: .activation).position(values, method: method),
                                       "\(extreme), batch \(b), \(bits) bits, method \(method)")
                    }
                }
            }
        }
    }

    func testAHistogramWithinEightTimesTheFirstRangeKeepsItsWidth() {
        var h = AbsHistogram()
        [Float(1), -0.5].withUnsafeBufferPointer { h.add($0) }
        let width = h.width
        [Float(7.5)].withUnsafeBufferPointer { h.add($0) }
        XCTAssertEqual(h.width, width, "extended at the same width, as TensorFlow does")
        XCTAssertEqual(h.counts.count, 15360)
        [Float(100)].withUnsafeBufferPointer { h.add($0) }
        XCTAssertEqual(h.width, width * 16, "merged pairwise until the range fits in maxBins")
        XCTAssertEqual(h.counts.reduce(0, +), 4)
    }

    func testANonFiniteWeightIsOneErrorNamingTheNode() throws {
        var (graph, x) = try PTQTests.fixture("conv2d_0")
        // Statistics of the sound model (calibrating the broken one stops at its NaN activations first).
        let statistics = try PostTrainingQuantizer.calibrate(try PTQTests.optimize(graph, x), outputNodes: ["y"], batches: [["x": x]], threads: 1,
                                                             path: "m.pb")
        let i = try XCTUnwrap(graph.node.firstIndex { $0.tfOp == .const && ($0.attr["value"]?.tensor.tensorShape.dim.count ?? 0) == 4 })
        var weights = try TensorProtoCodec.decode(graph.node[i].attr["value"]!.tensor, context: "w").floatValues()
        weights[3] = .nan
        graph.node[i].attr["value"]!.tensor = TensorProtoCodec.encode(Tensor(weights, shape: graph.node[i].attr["value"]!.tensor.tensorShape.dim.map { Int($0.size) }))
        // Optimize refuses it, naming the constant.
        XCTAssertThrowsError(try PTQTests.optimize(graph, x)) { error in
            XCTAssertTrue("\(error)".contains(": node '\(graph.node[i].name)': holds nan at element 3 (a parameter of '")
                          && "\(error)".hasSuffix("weights, biases and batch-norm parameters must be finite"), "\(error)")
        }
        // And the weight position, given such a graph, says so too (never a trap).
        var optimized = try PTQTests.optimize(graph.withNode(i, weights: weights.map { $0.isNaN ? 0 : $0 }), x)
        let w = try XCTUnwrap(optimized.node.firstIndex { $0.tfOp == .const && ($0.attr["value"]?.tensor.tensorShape.dim.count ?? 0) == 4 })
        var optimizedWeights = try TensorProtoCodec.decode(optimized.node[w].attr["value"]!.tensor, context: "w").floatValues()
        optimizedWeights[3] = .nan
        optimized.node[w].attr["value"]!.tensor = TensorProtoCodec.encode(Tensor(optimizedWeights, shape: optimized.node[w].attr["value"]!.tensor.tensorShape.dim.map { Int($0.size) }))
        XCTAssertThrowsError(try PostTrainingQuantizer.positions(Locator.locate(optimized, QuantizeConfig()), graph: optimized, statistics: statistics,
                                                                 narrowActivations: false, path: "m.pb")) { error in
            XCTAssertTrue("\(error)".hasPrefix("m.pb: node '") && "\(error)".hasSuffix("' holds nan (element 3); its weight position needs finite values"), "\(error)")
        }
    }
}

extension Tensorflow_GraphDef {
    /// A copy with node `i`'s constant value replaced (same shape).
    func withNode(_ i: Int, weights: [Float]) -> Tensorflow_GraphDef {
        var copy = self
        copy.node[i].attr["value"]!.tensor = TensorProtoCodec.encode(Tensor(weights, shape: node[i].attr["value"]!.tensor.tensorShape.dim.map { Int($0.size) }))
        return copy
    }
}
