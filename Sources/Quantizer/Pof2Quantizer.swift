import CKernels
import Kernels

/// What a FixNeuron quantizes, which decides its rounding and (on DPUCADF8H) its range.
/// Raw values are the reference quantizer's `mode` attribute (its doc string has 0 and 1 swapped;
/// the kernel's meaning is the one used here).
public enum QuantizeMode: Int, Sendable, Codable {
    case weight = 0
    case activation = 1
    case depthwiseWeight = 2
}

/// How a position is chosen from a tensor (the `method` attribute).
public enum PositionMethod: Int, Sendable, Codable {
    /// The finest position at which nothing overflows.
    case nonOverflow = 0
    /// Of the non-overflow position and the 4 finer ones, the one with the least squared error.
    case minDiffs = 1
    /// As `minDiffs`, but depthwise weights are scored by a relative error (sqrt(|y-x|/(|x|+1e-9))).
    case minDiffsDepthwise = 2
}

/// Power-of-two quantization as vai_q_tensorflow's FixNeuron kernel does it, in float32:
/// step s = 2^-p, value -> round(x / s) * s clamped to [-2^(b-1) s, (2^(b-1)-1) s].
///
/// Rounding: weights round half away from zero; activations use the DPU's round half up (ties
/// toward +infinity), tested literally on the fraction so the float just below 0.5 rounds to 0.
/// On DPUCADF8H (`narrowActivations`) activations saturate at -127 instead of -128.
public struct Pof2Quantizer: Sendable, Equatable {
    public let bitWidth: Int
    public let mode: QuantizeMode
    public let narrowActivations: Bool
    /// The reference's DPU_ACCURACY switch: when off, activations also round half away from zero.
    public let dpuRounding: Bool

    /// The position that marks an all-zero tensor (kept as the real position, as the reference does).
    public static let allZeroPosition = 127

    public init(bitWidth: Int, mode: QuantizeMode, narrowActivations: Bool = false, dpuRounding: Bool = true) {
        precondition((1...32).contains(bitWidth), "bit width \(bitWidth)")
        self.bitWidth = bitWidth
        self.mode = mode
        self.narrowActivations = narrowActivations
        self.dpuRounding = dpuRounding
    }

    /// The integer range [qmin, qmax] for this tensor.
    public var integerRange: ClosedRange<Float> {
        let half = Float(sign: .plus, exponent: bitWidth - 1, significand: 1)
        let lower = mode == .activation && narrowActivations ? -half + 1 : -half
        return lower...(half - 1)
    }

    /// The quantized integer of `x` at position `p` (before scaling back).
    @inline(__always)
    public func integer(_ x: Float, position p: Int) -> Float {
        let t = x / Self.step(p)
        let r: Float
        if mode == .activation && dpuRounding {
            // Round half up: a negative exact tie goes up (toward zero); everything else half away.
            r = (t < 0 && t - t.rounded(.down) == 0.5) ? t.rounded(.up) : t.rounded(.toNearestOrAwayFromZero)
        } else {
            r = t.rounded(.toNearestOrAwayFromZero)
        }
        let range = integerRange
        return min(max(r, range.lowerBound), range.upperBound)
    }

    /// The quantized value of `x` at position `p`.
    @inline(__always)
    public func quantize(_ x: Float, position p: Int) -> Float {
        integer(x, position: p) * Self.step(p)
    }

    /// s = 2^-p as a float32 (subnormal for p > 126, as in the reference), so x / s and r * s
    /// round and overflow exactly where the reference's do.
    @inline(__always)
    static func step(_ p: Int) -> Float { Float(sign: .plus, exponent: -p, significand: 1) }

    /// `quantize(_:position:)` of every value, through the bulk kernel (the same bits).
    public func quantize(_ values: [Float], position p: Int) -> [Float] {
        guard !values.isEmpty else { return [] }
        return [Float](unsafeUninitializedCapacity: values.count) { out, count in
            values.withUnsafeBufferPointer { quantize($0.baseAddress!, count: $0.count, position: p, into: out.baseAddress!) }
            count = values.count
        }
    }

    /// `quantize` over `count` values (CKernels `ck_pof2_quantize`: the same operations, so the
    /// same bits), in fixed chunks of 64 Ki values, up to `threads` chunks at a time.
    public func quantize(_ input: UnsafePointer<Float>, count: Int, position p: Int, into output: UnsafeMutablePointer<Float>,
                         threads: Int = 1) {
        let range = integerRange, step = Self.step(p), halfUp = kernelHalfUp
        let chunk = 65_536, chunks = (count + chunk - 1) / chunk
        nonisolated(unsafe) let x = input, out = output
        parallelFor(tiles: chunks, threads: threads) { c in
            ck_pof2_quantize(x + c * chunk, Swift.min(chunk, count - c * chunk), step, range.lowerBound, range.upperBound, halfUp,
                             out + c * chunk)
        }
    }

    // MARK: positions

    /// Method 0 from a tensor's minimum and maximum: floor(log2(1 / step)) with a half-step guard,
    /// step = max(min / -(2^(b-1) + 0.5), max / (2^(b-1) - 0.5)); 127 for an all-zero tensor.
    /// Where float32 cannot hold 1 / step (values near its largest at a narrow bit width, or
    /// subnormal data) the same formula runs in Double and the position is clamped to
    /// `positionRange`, whose steps are normal floats (vaiq-build's choice; the reference traps).
    /// `min` and `max` must be finite.
    public func nonOverflowPosition(min lo: Float, max hi: Float) -> Int {
        let half = Float(sign: .plus, exponent: bitWidth - 1, significand: 1)
        let step = Swift.max(lo / (-half - 0.5), hi / (half - 0.5))
        // step <= 0 only for no values at all (min > max: `extremes` of an empty tensor), which
        // holds no value to represent, as an all-zero one.
        if step <= 0 { return Self.allZeroPosition }
        let inverse = Float(1) / step
        if inverse.isNormal && step.isNormal { return Int(inverse.log2Floor) }
        let wide = Swift.max(Double(lo) / (-Double(half) - 0.5), Double(hi) / (Double(half) - 0.5))
        let p = Int((1 / wide).exponent)   // floor(log2) of a normal Double, exactly
        return Swift.min(Swift.max(p, Self.positionRange.lowerBound), Self.positionRange.upperBound)
    }

    /// The C kernels' `half_up`: the DPU's activation rounding (a negative exact tie toward zero).
    private var kernelHalfUp: Int32 { mode == .activation && dpuRounding ? 1 : 0 }

    /// The least and greatest of `values` (CKernels `ck_min_max`: a zero of either sign as +0) and
    /// whether all are finite; (greatestFiniteMagnitude, -greatestFiniteMagnitude, true) for none.
    /// In fixed chunks of 1 Mi values, up to `threads` at a time (min and max do not depend on the order).
    static func extremes(_ values: UnsafeBufferPointer<Float>, threads: Int = 1) -> (min: Float, max: Float, finite: Bool) {
        var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
        guard let base = values.baseAddress, !values.isEmpty else { return (lo, hi, true) }
        let chunk = 1 << 20, chunks = (values.count + chunk - 1) / chunk
        if chunks == 1 || threads <= 1 {
            let finite = ck_min_max(base, values.count, &lo, &hi) != 0
            return (lo, hi, finite)
        }
        let found = UnsafeMutablePointer<(Float, Float, Bool)>.allocate(capacity: chunks)
        defer { found.deallocate() }
        nonisolated(unsafe) let x = base, out = found
        let count = values.count
        parallelFor(tiles: chunks, threads: threads) { c in
            var l: Float = 0, h: Float = 0
            let finite = ck_min_max(x + c * chunk, Swift.min(chunk, count - c * chunk), &l, &h) != 0
            (out + c).initialize(to: (l, h, finite))
        }
        var finite = true
        for c in 0..<chunks {
            lo = Swift.min(lo, found[c].0)
            hi = Swift.max(hi, found[c].1)
            finite = finite && found[c].2
        }
        return (lo, hi, finite)
    }

    /// Positions whose step 2^-p and its inverse are normal float32 values: where method 0 is
    /// clamped (min-diffs then looks at up to 4 positions above, with subnormal steps).
    public static let positionRange = -126...126

    /// The position `method` chooses for `values` (one calibration batch, or a whole weight tensor).
    public func position(_ values: [Float], method: PositionMethod) -> Int {
        let (lo, hi, _) = values.withUnsafeBufferPointer { Self.extremes($0) }
        let p0 = nonOverflowPosition(min: lo, max: hi)
        if method == .nonOverflow || p0 == Self.allZeroPosition { return p0 }
        let relative = method == .minDiffsDepthwise && mode == .depthwiseWeight
        var best = p0
        var bestError = Float.greatestFiniteMagnitude
        let range = integerRange, halfUp = kernelHalfUp
        for p in p0...(p0 + 4) {
            var error: Float = 0   // float32, summed in element order like the reference's CPU kernel
            if relative {
                for x in values {
                    let d = quantize(x, position: p) - x
                    error += (Swift.abs(Double(d)) / (Swift.abs(Double(x)) + 1e-9)).squareRoot().float
                }
            } else {
                // CKernels: the same operations as `squaredError(values, position:)`, so the same bits.
                error = values.withUnsafeBufferPointer {
                    ck_pof2_squared_error($0.baseAddress, $0.count, Self.step(p), range.lowerBound, range.upperBound, halfUp)
                }
            }
            if error < bestError {   // strict: ties keep the smaller position
                best = p
                bestError = error
            }
        }
        return best
    }
}

extension Pof2Quantizer {
    /// The squared quantization error at position `p`, summed in float32 in element order: the
    /// definition `ck_pof2_squared_error` (used by `position`) is tested against.
    func squaredError(_ values: [Float], position p: Int) -> Float {
        var error: Float = 0
        for x in values {
            let d = quantize(x, position: p) - x
            error += d * d
        }
        return error
    }
}

private extension Double {
    var float: Float { Float(self) }
}

private extension Float {
    /// floor(log2(self)) computed as the reference does (float32 log2, then floor).
    var log2Floor: Float {
        #if canImport(Glibc)
        return Glibc.floorf(Glibc.log2f(self))
        #else
        return Foundation.floor(Foundation.log2(self))
        #endif
    }
}

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
