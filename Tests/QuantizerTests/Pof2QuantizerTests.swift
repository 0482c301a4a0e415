@testable import Quantizer
import XCTest

/// The test vectors of the reference quantizer's spec (Appendix B), plus edge cases.
final class Pof2QuantizerTests: XCTestCase {
    let weights = Pof2Quantizer(bitWidth: 8, mode: .weight)
    let activations = Pof2Quantizer(bitWidth: 8, mode: .activation)

    func testRoundingPerMode() {
        let x: [Float] = [2.5, -2.5, -0.5, 0.5, 127.6, -128.4]
        XCTAssertEqual(weights.quantize(x, position: 0), [3, -3, -1, 1, 127, -128])
        XCTAssertEqual(activations.quantize(x, position: 0), [3, -2, 0, 1, 127, -128])
        let adf = Pof2Quantizer(bitWidth: 8, mode: .activation, narrowActivations: true)
        XCTAssertEqual(adf.quantize([-128.4, -127.6], position: 0), [-127, -127])
        let adfWeights = Pof2Quantizer(bitWidth: 8, mode: .weight, narrowActivations: true)
        XCTAssertEqual(adfWeights.quantize([-128.4], position: 0), [-128], "weights keep [-128, 127] on DPUCADF8H")
    }

    func testTheFloatJustBelowOneHalfRoundsToZero() {
        XCTAssertEqual(activations.quantize(0.49999997, position: 0), 0)
        XCTAssertEqual(activations.quantize(-0.49999997, position: 0), 0)
    }

    func testHalfAwayWhenDPURoundingIsOff() {
        let haz = Pof2Quantizer(bitWidth: 8, mode: .activation, dpuRounding: false)
        XCTAssertEqual(haz.quantize(-2.5, position: 0), -3)
    }

    func testPositionsScaleValues() {
        XCTAssertEqual(weights.quantize(0.3, position: 4), 0.3125)   // round(4.8) = 5 -> 5/16
        XCTAssertEqual(weights.quantize(1000, position: -3), 1000)   // 125 * 8
        XCTAssertEqual(weights.quantize(5000, position: -3), 1016)   // clamped at 127 * 8
    }

    func testNonOverflowPositions() {
        XCTAssertEqual(weights.nonOverflowPosition(min: -3.1, max: 2.0), 5)
        XCTAssertEqual(weights.nonOverflowPosition(min: 0, max: 3.98), 5, "the half-step guard")
        XCTAssertEqual(weights.nonOverflowPosition(min: 0, max: 0), 127, "all-zero sentinel")
        XCTAssertEqual(weights.position([0, 0, 0], method: .minDiffs), 127)
        XCTAssertEqual(Pof2Quantizer(bitWidth: 4, mode: .weight).nonOverflowPosition(min: -1, max: 1), 2)
    }

    func testMinDiffs() {
        XCTAssertEqual(weights.position([0.3, -1.0, 0.9], method: .minDiffs), 7)
        XCTAssertEqual(weights.position([0.3, -1.0, 0.9], method: .nonOverflow), 7)
        // A long tail: clipping the one outlier costs less than coarse steps for the rest.
        var values = [Float](repeating: 0.01, count: 1000)
        values[0] = 1
        let p0 = weights.position(values, method: .nonOverflow)
        XCTAssertGreaterThan(weights.position(values, method: .minDiffs), p0)
    }

    func testDepthwiseMetricOnlyForDepthwiseWeights() {
        // One large value and many tiny ones: squared error keeps the large value (position 7);
        // the relative metric favours the tiny ones and goes finer.
        let values: [Float] = [0.5] + [Float](repeating: 0.001, count: 100)
        let dw = Pof2Quantizer(bitWidth: 8, mode: .depthwiseWeight)
        let plain = Pof2Quantizer(bitWidth: 8, mode: .weight)
        XCTAssertEqual(plain.position(values, method: .minDiffs), 7)
        XCTAssertEqual(plain.position(values, method: .minDiffsDepthwise), 7, "method 2 is method 1 unless depthwise")
        XCTAssertEqual(dw.position(values, method: .minDiffs), 7)
        XCTAssertEqual(dw.position(values, method: .minDiffsDepthwise), 10)   // as tools/fixpos_reference.py
    }

    func testCalibrationModeTiesGoToTheSmallerPosition() {
        var h = PositionHistogram()
        XCTAssertNil(h.mode)
        for p in [5, 6, 6, 5] { h.add(p) }
        XCTAssertEqual(h.mode, 5)
        h.add(6)
        XCTAssertEqual(h.mode, 6)
    }
}
