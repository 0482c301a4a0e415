import CKernels
@testable import Quantizer
import XCTest

/// The C errors behind `BatchStatistics` (`ck_activation_errors`) give the bits of the Swift
/// definition (`Candidate.referenceSums`) on every body (AVX-512, AVX2, portable): negative and
/// positive exact ties, the float just below a half, exact powers of two, zeros and -0, values far
/// beyond the clamp, tiny values, lengths that leave a partial group; bit widths 1 to 16 and
/// positions from -126 to 127; and `BatchStatistics` is the same at 1 and 2 threads.
final class ErrorKernelTests: XCTestCase {
    typealias Candidate = Quantizer.BatchStatistics.Candidate

    func kernel(_ values: [Float], _ candidates: [Candidate], narrow: Bool = true) -> [UInt64] {
        var sums = [Double](repeating: -1, count: 2 * candidates.count)
        ck_activation_errors(values, values.count, candidates.map { $0.scale! }, candidates.map(\.range.lowerBound),
                             candidates.map(\.range.upperBound), Int32(candidates.count), narrow ? 1 : 0, &sums)
        return sums.map(\.bitPattern)
    }

    func testKernelEqualsTheDefinitionBitForBitOnEveryBody() {
        var random = TestRandom(seed: 7)
        func uniform() -> Float { random.uniform() }
        var values = (0..<5000).map { _ in (uniform() * 2 - 1) * 3 }
        values += [0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1, -1, 2, -2, 4, -4, 1024, -1024, 65536, -65536, 65535.5, -65536.5,
                   3e9, -3e9, 1e-30, -1e-30, Float.leastNonzeroMagnitude, 0.375, -0.375, 0.49999997, -0.49999997, 127.5, -128.5]
        values += (0..<200).map { Float(Int($0) - 100) / 8 }  // ties at positions 1, 2, 3
        let candidates = [(8, 0), (8, 1), (8, 3), (4, 2), (1, 0), (2, -3), (16, 7), (8, -20), (12, 20), (6, 60), (3, -126), (5, 127)]
            .map { Candidate(bits: $0.0, position: $0.1) }
        let previous = ck_force_isa(Int32(CK_ISA_AVX512))
        defer { _ = ck_force_isa(previous) }
        for n in [values.count, 1, 63, 64, 65, 130, 4096 + 17] {
            let run = Array(values.shuffled(using: &random).prefix(n))
            let reference = candidates.flatMap { c in let r = c.referenceSums(run); return [r.wide, r.narrow].map(\.bitPattern) }
            for isa in [CK_ISA_PORTABLE, CK_ISA_AVX2, CK_ISA_AVX512] {
                _ = ck_force_isa(Int32(isa))
                XCTAssertEqual(kernel(run, candidates), reference, "\(n) values, instruction set \(isa)")
                // Without the narrow range: the same DEFAULT sums, narrow ones 0.
                let wideOnly = reference.enumerated().map { $0.offset % 2 == 0 ? $0.element : Double(0).bitPattern }
                XCTAssertEqual(kernel(run, candidates, narrow: false), wideOnly, "\(n) values, instruction set \(isa), DEFAULT range only")
            }
        }
    }

    /// The kernel's sums, scaled back to values, are the exact squared errors up to the stated 3.6e-7.
    func testSumsAreTheSquaredErrorsWithinTheStatedBound() {
        var random = TestRandom(seed: 3)
        let values = (0..<3000).map { _ in (random.uniform() * 2 - 1) * 40 }
        values.withUnsafeBufferPointer { v in
            for c in [(8, 0), (8, 2), (4, -2), (16, 9), (2, 1)].map({ Candidate(bits: $0.0, position: $0.1) }) {
                let exact = c.exactSquaredErrors(v)
                let got = Candidate.squaredErrors(v, [c], threads: 1)[0]
                XCTAssertEqual(got.wide, exact.wide, accuracy: 3.6e-7 * exact.wide, "\(c)")
                XCTAssertEqual(got.narrow, exact.narrow, accuracy: 3.6e-7 * exact.narrow, "\(c)")
            }
        }
    }

    func testStatisticsDoNotDependOnThreads() {
        let values = (0..<300_000).map { Float(($0 * 7919) % 2003 - 1001) / 97 }
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
