import CKernels
import Kernels

/// What float calibration keeps of one activation tensor in one batch, enough to choose its
/// position for the bit widths asked (`bitWidths`: those of every strategy sharing the
/// calibration), any method, and either activation range (DEFAULT or DPUCADF8H) without running
/// the model again:
///
/// - min and max give the non-overflow position p0(b) of every bit width b (method 0);
/// - for methods 1/2 the squared error of each candidate p0(b) ... p0(b)+4 is kept for each b of
///   `bitWidths`, for both ranges (computing them is most of calibration's time, so only the bit
///   widths a build uses are computed). All of them come from one pass per distinct candidate position: values are
///   bucketed by the bit length of their rounded integer, and since every clipping threshold
///   (2^(b-1) - 1 above, -2^(b-1) or -(2^(b-1) - 1) below) falls on a bucket boundary, each
///   bucket's count, sum and sum of squares give the clipped error, and its summed rounding
///   error the rest, exactly.
///
/// Errors are summed in Double (the reference sums float32 in element order); the two can only
/// disagree when two candidates' errors are equal to within float32 rounding.
public struct BatchStatistics: Sendable, Codable, Equatable {
    public let min: Float
    public let max: Float
    /// The bit widths whose errors are kept.
    public let bitWidths: [Int]
    /// errors[b - 1] = squared errors of positions p0(b) ... p0(b)+4 (empty when p0 is the all-zero
    /// sentinel or b is not in `bitWidths`).
    public let errors: [[Double]]
    /// The same with activations saturating at -(2^(b-1) - 1) (DPUCADF8H).
    public let narrowErrors: [[Double]]

    public static let maxBits = 16

    /// `threads`: the distinct candidate positions (5 per bit width, up to about 20) are bucketed
    /// concurrently, each in one pass in element order, so the result does not depend on it.
    /// Values must be finite (see `init(ifFinite:bitWidths:threads:)`).
    public init(_ values: UnsafeBufferPointer<Float>, bitWidths: [Int] = Array(1...maxBits), threads: Int = 1) {
        self.init(ifFinite: values, bitWidths: bitWidths, threads: threads)!
    }

    /// The statistics, or nil when a value is NaN or infinite (found in the min/max pass).
    public init?(ifFinite values: UnsafeBufferPointer<Float>, bitWidths: [Int] = Array(1...maxBits), threads: Int = 1) {
        let (lo, hi, finite) = Pof2Quantizer.extremes(values)
        guard finite else { return nil }
        min = lo
        max = hi
        let kept = Set(bitWidths)
        self.bitWidths = kept.sorted()
        let p0s = (1...Self.maxBits).map { Pof2Quantizer(bitWidth: $0, mode: .activation).nonOverflowPosition(min: lo, max: hi) }
        let positions = Array(Set(zip(1...Self.maxBits, p0s).filter { kept.contains($0.0) && $0.1 != Pof2Quantizer.allZeroPosition }
            .flatMap { $0.1...($0.1 + 4) })).sorted()
        let byPosition = Dictionary(uniqueKeysWithValues: zip(positions, Buckets.make(values, positions: positions, threads: threads)))
        var errors: [[Double]] = [], narrow: [[Double]] = []
        for (b, p0) in zip(1...Self.maxBits, p0s) {
            guard p0 != Pof2Quantizer.allZeroPosition, kept.contains(b) else {
                errors.append([]); narrow.append([])
                continue
            }
            var e: [Double] = [], n: [Double] = []
            for p in p0...(p0 + 4) {
                e.append(byPosition[p]!.squaredError(bits: b, narrow: false))
                n.append(byPosition[p]!.squaredError(bits: b, narrow: true))
            }
            errors.append(e)
            narrow.append(n)
        }
        self.errors = errors
        narrowErrors = narrow
    }

    /// The position of this batch for `bits` and `method` (activation rounding), as
    /// `Pof2Quantizer.position` would choose it from the values.
    public func position(bits: Int, method: PositionMethod, narrow: Bool) -> Int {
        let p0 = Pof2Quantizer(bitWidth: bits, mode: .activation).nonOverflowPosition(min: min, max: max)
        if method == .nonOverflow || p0 == Pof2Quantizer.allZeroPosition { return p0 }
        precondition(bitWidths.contains(bits), "calibration kept errors for bit widths \(bitWidths), not \(bits)")
        let table = (narrow ? narrowErrors : errors)[bits - 1]
        var best = 0
        for k in 1..<table.count where table[k] < table[best] { best = k }   // strict: ties keep the smaller position
        return p0 + best
    }

    /// Per-bucket sums at one position. Positive integers k go to bucket bitLength(k) (0 for k = 0);
    /// negative ones to `exact[j]` when |k| = 2^j and to `between[j]` when 2^j < |k| < 2^(j+1).
    /// The last bucket of each kind collects everything beyond 2^16.
    struct Buckets {
        struct Sums { var n = 0.0, sum = 0.0, squares = 0.0, rounding = 0.0 }
        var positive = [Sums](repeating: Sums(), count: BatchStatistics.maxBits + 2)
        var exact = [Sums](repeating: Sums(), count: BatchStatistics.maxBits + 2)
        var between = [Sums](repeating: Sums(), count: BatchStatistics.maxBits + 2)
        let step: Double

        /// One bucketing per position (CKernels `ck_activation_buckets`, the same operations in the
        /// same order as `init(_:position:)`), up to `threads` positions at a time.
        static func make(_ values: UnsafeBufferPointer<Float>, positions: [Int], threads: Int) -> [Buckets] {
            let count = BatchStatistics.maxBits + 2
            let range = Pof2Quantizer(bitWidth: 32, mode: .activation).integerRange
            let results = UnsafeMutablePointer<Double>.allocate(capacity: positions.count * 3 * count * 4)
            results.initialize(repeating: 0, count: positions.count * 3 * count * 4)
            defer { results.deallocate() }
            nonisolated(unsafe) let out = results, input = values
            parallelFor(tiles: positions.count, threads: threads) { i in
                ck_activation_buckets(input.baseAddress, input.count, Pof2Quantizer.step(positions[i]), range.lowerBound,
                                      range.upperBound, out + i * 3 * count * 4)
            }
            return positions.indices.map { i in
                var b = Buckets(step: Double(Pof2Quantizer.step(positions[i])))
                func sums(_ kind: Int, _ j: Int) -> Sums {
                    let s = out + ((i * 3 + kind) * count + j) * 4
                    return Sums(n: s[0], sum: s[1], squares: s[2], rounding: s[3])
                }
                for j in 0..<count {
                    b.positive[j] = sums(0, j)
                    b.exact[j] = sums(1, j)
                    b.between[j] = sums(2, j)
                }
                return b
            }
        }

        init(step: Double) { self.step = step }

        /// The definition (the C kernel's specification; tests compare the two). Element i adds into
        /// partial sums i % 4, each in element order; the four are then added in order.
        init(_ values: UnsafeBufferPointer<Float>, position p: Int) {
            let q = Pof2Quantizer(bitWidth: 32, mode: .activation)
            step = Double(Pof2Quantizer.step(p))
            let top = BatchStatistics.maxBits + 1
            var partials = [Buckets](repeating: Buckets(step: step), count: 4)
            for (i, v) in values.enumerated() {
                let k = q.integer(v, position: p)   // DPU rounding; 32-bit range never clips here
                let x = Double(v)
                let d = Double(k) * step - x
                func add(_ s: inout Sums) {
                    s.n += 1; s.sum += x; s.squares += x * x; s.rounding += d * d
                }
                if k >= 0 {
                    let bits = k < 1 ? 0 : Swift.min(Int(Float(k).exponent) + 1, top)
                    add(&partials[i % 4].positive[bits])
                } else {
                    let m = -k
                    let j = Swift.min(Int(m.exponent), top)
                    if j < top && m == Float(sign: .plus, exponent: j, significand: 1) { add(&partials[i % 4].exact[j]) } else { add(&partials[i % 4].between[j]) }
                }
            }
            for part in partials {
                func merge(_ a: inout [Sums], _ b: [Sums]) {
                    for j in a.indices {
                        a[j].n += b[j].n; a[j].sum += b[j].sum; a[j].squares += b[j].squares; a[j].rounding += b[j].rounding
                    }
                }
                merge(&positive, part.positive)
                merge(&exact, part.exact)
                merge(&between, part.between)
            }
        }

        /// Sum of squared errors at this position with a `bits`-wide integer range.
        func squaredError(bits b: Int, narrow: Bool) -> Double {
            let qmax = Double((1 << (b - 1)) - 1) * step
            let qmin = (narrow ? -Double((1 << (b - 1)) - 1) : -Double(1 << (b - 1))) * step
            func clipped(_ s: Sums, to c: Double) -> Double { s.n * c * c - 2 * c * s.sum + s.squares }
            var total = 0.0
            for (j, s) in positive.enumerated() where s.n > 0 { total += j >= b ? clipped(s, to: qmax) : s.rounding }
            // |k| = 2^j clips when 2^j > 2^(b-1) (or >= in the narrow range); 2^j < |k| < 2^(j+1) when 2^(j+1) > 2^(b-1) + 1.
            for (j, s) in exact.enumerated() where s.n > 0 { total += (j > b - 1 || (narrow && j == b - 1)) ? clipped(s, to: qmin) : s.rounding }
            for (j, s) in between.enumerated() where s.n > 0 { total += j >= b - 1 ? clipped(s, to: qmin) : s.rounding }
            return total
        }
    }
}
