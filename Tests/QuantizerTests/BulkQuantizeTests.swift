import CKernels
@testable import Quantizer
import XCTest

/// `Pof2Quantizer.quantize(_:count:position:into:threads:)` (CKernels `ck_pof2_quantize`, what
/// FixNeuron steps run) gives the bits of the scalar `quantize(_:position:)` on the AVX2 and the
/// portable body, for weights (half away from zero), activations (DPU half up, and half away with
/// dpuRounding off), narrow ranges, bit widths 2-16, positions -127...140 (the kernel multiplies
/// by the exact inverse of normal steps, 2^-126...2^126, and divides by the others: subnormal
/// steps, huge ones), and
/// ties, -0, NaN, infinities, overflowing and tiny values; at 1 and 2 threads over several chunks.
final class BulkQuantizeTests: XCTestCase {
    func testBulkEqualsScalarBitForBit() {
        var random = TestRandom(seed: 3)
        func uniform() -> Float { random.uniform() }
        var values = (0..<70_000).map { _ in (uniform() * 2 - 1) * 5 }
        values += [0, -0.0, .nan, .infinity, -.infinity, 1e30, -1e30, 1e-40, -1e-40, .leastNormalMagnitude]
        values += (0..<400).map { Float(Int($0) - 200) / 16 }  // exact ties at positions 1...4
        let previous = ck_force_portable(0)
        defer { _ = ck_force_portable(previous) }
        var checked = 0
        for (bits, mode, narrow, dpu) in [(8, QuantizeMode.activation, false, true), (8, .weight, false, true), (4, .activation, true, true),
                                          (16, .activation, false, false), (2, .weight, false, true)] {
            let q = Pof2Quantizer(bitWidth: bits, mode: mode, narrowActivations: narrow, dpuRounding: dpu)
            for p in [-127, -126, -10, 0, 1, 3, 4, 7, 20, 125, 126, 127, 140] {
                let expected = values.map { q.quantize($0, position: p).bitPattern }
                for (portable, threads) in [(0, 2), (1, 1), (0, 1)] as [(Int32, Int)] {
                    _ = ck_force_portable(portable)
                    var out = [Float](repeating: 42, count: values.count)
                    values.withUnsafeBufferPointer { x in
                        out.withUnsafeMutableBufferPointer { o in
                            q.quantize(x.baseAddress!, count: x.count, position: p, into: o.baseAddress!, threads: threads)
                        }
                    }
                    let differing = zip(out.map(\.bitPattern), expected).filter { $0 != $1 }.count
                    XCTAssertEqual(differing, 0, "\(bits) bits \(mode) narrow \(narrow) dpu \(dpu) position \(p) portable \(portable) threads \(threads)")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 195)
    }

    /// The min-diffs search's error sums (CKernels `ck_pof2_squared_error`) equal the float32
    /// element-order definition bit for bit on both bodies, and so do the positions it picks.
    func testSquaredErrorKernelEqualsTheDefinition() {
        var random = TestRandom(seed: 5)
        var values = (0..<20_000).map { _ in (random.uniform() * 2 - 1) * 0.7 }
        values += (0..<300).map { Float(Int($0) - 150) / 64 }  // exact ties
        let previous = ck_force_portable(0)
        defer { _ = ck_force_portable(previous) }
        for (bits, mode) in [(8, QuantizeMode.weight), (4, .weight), (8, .activation), (16, .depthwiseWeight)] {
            let q = Pof2Quantizer(bitWidth: bits, mode: mode)
            let halfUp: Int32 = mode == .activation ? 1 : 0
            for p in [0, 3, 6, 9, 12, 20] {
                let expected = q.squaredError(values, position: p).bitPattern
                for portable in [0, 1] as [Int32] {
                    _ = ck_force_portable(portable)
                    let got = values.withUnsafeBufferPointer {
                        ck_pof2_squared_error($0.baseAddress, $0.count, Float(sign: .plus, exponent: -p, significand: 1),
                                              q.integerRange.lowerBound, q.integerRange.upperBound, halfUp)
                    }
                    XCTAssertEqual(got.bitPattern, expected, "bits \(bits) \(mode) p \(p) portable \(portable)")
                }
            }
        }
    }
}
