import CKernels
@testable import Quantizer
import XCTest

/// The C bucketing behind `BatchStatistics` (`ck_activation_buckets`) gives the bits of the Swift
/// definition (`Buckets(_:position:)`) on both bodies: negative and positive exact ties, exact
/// powers of two, zeros and -0, values beyond 2^16 steps and beyond the 32-bit clamp, tiny values,
/// positions from -20 to 140; and `BatchStatistics` is the same at 1 and 2 threads.
final class BucketKernelTests: XCTestCase {
    func sums(_ b: Quantizer.BatchStatistics.Buckets) -> [UInt64] {
        (b.positive + b.exact + b.between).flatMap { [$0.n, $0.sum, $0.squares, $0.rounding].map(\.bitPattern) } + [b.step.bitPattern]
    }

    func testKernelEqualsTheDefinitionBitForBit() {
        var random = TestRandom(seed: 7)
        func uniform() -> Float { random.uniform() }
        var values = (0..<5000).map { _ in (uniform() * 2 - 1) * 3 }
        values += [0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1, -1, 2, -2, 4, -4, 1024, -1024, 65536, -65536, 65535.5, -65536.5,
                   3e9, -3e9, 1e-30, -1e-30, Float.leastNonzeroMagnitude, 0.375, -0.375]
        values += (0..<200).map { Float(Int($0) - 100) / 8 }  // ties at positions 1, 2, 3
        let previous = ck_force_portable(0)
        defer { _ = ck_force_portable(previous) }
        values.withUnsafeBufferPointer { v in
            for p in [-20, -3, 0, 1, 2, 3, 7, 12, 20, 31, 60, 140] {
                let reference = sums(.init(v, position: p))
                for portable in [0, 1] as [Int32] {
                    _ = ck_force_portable(portable)
                    let got = Quantizer.BatchStatistics.Buckets.make(v, positions: [p], threads: 1)[0]
                    XCTAssertEqual(sums(got), reference, "position \(p) portable \(portable)")
                }
            }
        }
    }

    func testStatisticsDoNotDependOnThreads() {
        let values = (0..<20_000).map { Float(($0 * 7919) % 2003 - 1001) / 97 }
        values.withUnsafeBufferPointer { v in
            XCTAssertEqual(BatchStatistics(v, threads: 1), BatchStatistics(v, threads: 2))
        }
    }

    func testMinMaxKernelEqualsTheObviousLoopOnBothBodies() {
        var random = TestRandom(seed: 11)
        let previous = ck_force_portable(0)
        defer { _ = ck_force_portable(previous) }
        for n in [1, 7, 8, 9, 100, 1001] {
            var values = (0..<n).map { _ in (random.uniform() * 2 - 1) * 5 }
            if n > 8 { values[3] = -0.0; values[n - 2] = 0.0 }
            let (lo, hi) = (values.min()!, values.max()!)
            for portable in [0, 1] as [Int32] {
                _ = ck_force_portable(portable)
                var l: Float = 0, h: Float = 0
                XCTAssertEqual(ck_min_max(values, n, &l, &h), 1, "finite")
                XCTAssertEqual([l.bitPattern, h.bitPattern], [(lo == 0 ? 0 : lo).bitPattern, (hi == 0 ? 0 : hi).bitPattern], "n \(n)")
            }
        }
        for portable in [0, 1] as [Int32] {
            _ = ck_force_portable(portable)
            for bad in [Float.nan, .infinity, -.infinity] {
                for at in [0, 5, 16] {   // in the vector part and in the tail
                    var values = (0..<19).map { Float($0) }
                    values[at] = bad
                    var l: Float = 0, h: Float = 0
                    XCTAssertEqual(ck_min_max(values, values.count, &l, &h), 0, "\(bad) at \(at) portable \(portable)")
                }
            }
        }
        var zeros: [Float] = [-0.0, 0.0, -0.0]
        var l: Float = 1, h: Float = 1
        _ = ck_min_max(&zeros, 3, &l, &h)
        XCTAssertEqual([l.bitPattern, h.bitPattern], [Float(0).bitPattern, Float(0).bitPattern], "a zero of either sign is +0")
    }
}
