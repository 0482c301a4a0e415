import Foundation
import Quantizer
import XCTest

/// Positions chosen from the kept statistics equal the positions chosen from the values
/// themselves, for every bit width, method and activation range.
final class ActivationStatisticsTests: XCTestCase {
    func testStatisticsChooseThePositionsTheValuesWould() {
        var random = TestRandom(seed: 42)
        func uniform() -> Float { random.uniform() }
        var mismatches: [String] = []
        for trial in 0..<40 {
            let n = 50 + trial * 37
            let scale = Float(1 << (trial % 9)) / 16
            // Skewed, signed, with outliers and exact ties on the grid.
            var values = (0..<n).map { _ in (uniform() * 2 - 1) * scale * (uniform() < 0.05 ? 8 : 1) }
            if trial % 5 == 0 { values = values.map { ($0 * 64).rounded() / 64 } }
            if trial % 7 == 0 { values = values.map { max($0, 0) } }
            let stats = values.withUnsafeBufferPointer { BatchStatistics($0) }
            for bits in 2...16 {
                for method in [PositionMethod.nonOverflow, .minDiffs] {
                    for narrow in [false, true] {
                        let expected = Pof2Quantizer(bitWidth: bits, mode: .activation, narrowActivations: narrow).position(values, method: method)
                        let got = stats.position(bits: bits, method: method, narrow: narrow)
                        if got != expected { mismatches.append("trial \(trial) bits \(bits) \(method) narrow \(narrow): \(got) vs \(expected)") }
                    }
                }
            }
        }
        XCTAssertEqual(mismatches, [])
    }

    func testAllZeroTensorKeepsTheSentinel() {
        let stats = [Float](repeating: 0, count: 10).withUnsafeBufferPointer { BatchStatistics($0) }
        XCTAssertEqual(stats.position(bits: 8, method: .minDiffs, narrow: false), 127)
    }

    /// Found by the quantize fuzz target: an empty tensor (a zero dimension) trapped converting the
    /// NaN log2 of a negative step; it keeps the all-zero sentinel at every bit width.
    func testAnEmptyTensorKeepsTheSentinel() {
        let stats = [Float]().withUnsafeBufferPointer { BatchStatistics($0) }
        for bits in 1...16 {
            XCTAssertEqual(stats.position(bits: bits, method: .minDiffs, narrow: false), Pof2Quantizer.allZeroPosition)
            XCTAssertEqual(stats.position(bits: bits, method: .nonOverflow, narrow: true), Pof2Quantizer.allZeroPosition)
        }
        XCTAssertEqual(Pof2Quantizer(bitWidth: 8, mode: .activation).position([], method: .minDiffs), Pof2Quantizer.allZeroPosition)
    }
}

final class AbsHistogramTests: XCTestCase {
    func testHistogramExtendsWithTheFirstBatchsWidthAndPicksThresholds() {
        var h = AbsHistogram()
        let first: [Float] = (0..<2048).map { Float($0) / 2047 }      // max 1
        first.withUnsafeBufferPointer { h.add($0) }
        XCTAssertEqual(h.counts.count, 2048)
        XCTAssertEqual(h.counts.reduce(0, +), 2048)
        let second: [Float] = [-3, 0.5]                                 // |x| up to 3: edges extend at the same width
        second.withUnsafeBufferPointer { h.add($0) }
        XCTAssertEqual(h.counts.count, 6144)
        XCTAssertEqual(h.counts.reduce(0, +), 2050)
        XCTAssertEqual(h.percentileAmax(100), h.edge(6143))
        XCTAssertLessThan(h.percentileAmax(99), 1.0)
        // An exponential distribution (max ~9.9): the TensorRT/pytorch-quantization entropy
        // algorithm in NumPy + scipy (np.histogram, 2048 bins, start bin 128, last minimum) gives 9.211984.
        var g = AbsHistogram()
        let values: [Float] = (1..<20000).map { i in -Foundation.log(Float(i) / Float(20000)) }
        values.withUnsafeBufferPointer { g.add($0) }
        XCTAssertEqual(g.klAmax(), 9.211984, accuracy: 1e-5)
    }
}
