import CKernels
import Foundation
import Kernels

/// What float calibration keeps of one activation tensor in one batch, enough to choose its
/// position for the bit widths asked (`bitWidths`: those of every strategy sharing the
/// calibration), any method, and either activation range (DEFAULT or DPUCADF8H) without running
/// the model again:
///
/// - min and max give the non-overflow position p0(b) of every bit width b (method 0);
/// - for methods 1/2 the squared error of each candidate p0(b) ... p0(b)+4 is kept for each b of
///   `bitWidths`, for both ranges (computing them is most of calibration's time, so only the bit
///   widths a build uses are computed). All candidates of all bit widths come from one pass over
///   the values (CKernels `ck_activation_errors`, in fixed chunks of 64 Ki values, up to `threads`
///   chunks at a time, the chunks' sums added in order: the result does not depend on `threads`).
///
/// Precision: each value's error is exact in float (k - t, in units of the step) except where it
/// clips (one rounding), its square and the 4-term fused sums of the kernel's layout add at most 5
/// more roundings, and the rest is summed in Double: every candidate's error is within 3.6e-7
/// relative of the exact sum, so the chosen position equals the spec's exhaustive search
/// (`PositionCheck`) unless that search's two best candidates are within 7.2e-7 relative of each
/// other, a near tie (which `PositionCheck` counts apart at 1e-6). Candidates whose 2^p is not a
/// normal float (p > 127, only for tensors of values near float's smallest) are summed value by
/// value in Double instead.
public struct BatchStatistics: Sendable, Codable, Equatable {
    public let min: Float
    public let max: Float
    /// The bit widths whose errors are kept.
    public let bitWidths: [Int]
    /// errors[b - 1] = squared errors of positions p0(b) ... p0(b)+4 (empty when p0 is the all-zero
    /// sentinel or b is not in `bitWidths`).
    public let errors: [[Double]]
    /// The same with activations saturating at -(2^(b-1) - 1) (DPUCADF8H); empty lists when not
    /// kept (`narrow: false`: no target sharing the calibration has that range).
    public let narrowErrors: [[Double]]

    public static let maxBits = 16

    /// JSON with each error list as base64 of its little-endian float64 bit patterns: exact, and
    /// a matrix's calibration (four bit widths, both ranges: ~60k values) decodes in a fraction of
    /// the time the same numbers take as JSON numbers, for every cell that reads it.
    private enum CodingKeys: String, CodingKey { case min, max, bitWidths, errors, narrowErrors }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(min, forKey: .min)
        try c.encode(max, forKey: .max)
        try c.encode(bitWidths, forKey: .bitWidths)
        try c.encode(errors.map(Self.packed), forKey: .errors)
        try c.encode(narrowErrors.map(Self.packed), forKey: .narrowErrors)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        min = try c.decode(Float.self, forKey: .min)
        max = try c.decode(Float.self, forKey: .max)
        bitWidths = try c.decode([Int].self, forKey: .bitWidths)
        func lists(_ key: CodingKeys) throws -> [[Double]] {
            try c.decode([String].self, forKey: key).map {
                guard let v = Self.unpacked($0) else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "not base64 of float64 values")
                }
                return v
            }
        }
        errors = try lists(.errors)
        narrowErrors = try lists(.narrowErrors)
    }

    static func packed(_ values: [Double]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 8)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        return Data(bytes).base64EncodedString()
    }

    static func unpacked(_ text: String) -> [Double]? {
        guard let data = Data(base64Encoded: text), data.count % 8 == 0 else { return nil }
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
        }
    }

    /// Values must be finite (see `init(ifFinite:bitWidths:narrow:threads:)`).
    public init(_ values: UnsafeBufferPointer<Float>, bitWidths: [Int] = Array(1...maxBits), narrow: Bool = true, threads: Int = 1) {
        self.init(ifFinite: values, bitWidths: bitWidths, narrow: narrow, threads: threads)!
    }

    /// The statistics, or nil when a value is NaN or infinite (found in the min/max pass). Without
    /// `narrow` only the DEFAULT range's errors are kept (a third less work).
    public init?(ifFinite values: UnsafeBufferPointer<Float>, bitWidths: [Int] = Array(1...maxBits), narrow: Bool = true,
                 threads: Int = 1) {
        let (lo, hi, finite) = Pof2Quantizer.extremes(values, threads: threads)
        guard finite else { return nil }
        min = lo
        max = hi
        let kept = Set(bitWidths)
        self.bitWidths = kept.sorted()
        let p0s = (1...Self.maxBits).map { Pof2Quantizer(bitWidth: $0, mode: .activation).nonOverflowPosition(min: lo, max: hi) }
        let candidates = zip(1...Self.maxBits, p0s).filter { kept.contains($0.0) && $0.1 != Pof2Quantizer.allZeroPosition }
            .flatMap { b, p0 in (p0...(p0 + 4)).map { Candidate(bits: b, position: $0) } }
        var found = Dictionary(uniqueKeysWithValues: zip(candidates, Candidate.squaredErrors(values, candidates, narrow: narrow,
                                                                                             threads: threads)))
        var errors: [[Double]] = [], narrowSums: [[Double]] = []
        for (b, p0) in zip(1...Self.maxBits, p0s) {
            let sums = kept.contains(b) && p0 != Pof2Quantizer.allZeroPosition
                ? (p0...(p0 + 4)).map { found.removeValue(forKey: Candidate(bits: b, position: $0))! } : []
            errors.append(sums.map(\.wide))
            narrowSums.append(narrow ? sums.map(\.narrow) : [])
        }
        self.errors = errors
        narrowErrors = narrowSums
    }

    /// One candidate position of one bit width.
    struct Candidate: Hashable {
        let bits: Int
        let position: Int

        /// 2^p, when it is a normal float (the kernel's scale).
        var scale: Float? {
            let s = Float(sign: .plus, exponent: position, significand: 1)
            return s.isNormal ? s : nil
        }

        var range: ClosedRange<Float> { Pof2Quantizer(bitWidth: bits, mode: .activation).integerRange }

        /// The squared errors of `values` at each candidate, both ranges, in values (not steps).
        static func squaredErrors(_ values: UnsafeBufferPointer<Float>, _ candidates: [Candidate], narrow: Bool = true,
                                  threads: Int) -> [(wide: Double, narrow: Double)] {
            let fast = candidates.filter { $0.scale != nil }
            var sums = [Candidate: (wide: Double, narrow: Double)]()
            if let base = values.baseAddress, !fast.isEmpty {
                let chunks = (values.count + chunk - 1) / chunk
                let scales = fast.map { $0.scale! }, los = fast.map(\.range.lowerBound), his = fast.map(\.range.upperBound)
                let out = UnsafeMutablePointer<Double>.allocate(capacity: chunks * 2 * fast.count)
                defer { out.deallocate() }
                nonisolated(unsafe) let x = base, results = out
                let count = values.count
                parallelFor(tiles: chunks, threads: threads) { c in
                    ck_activation_errors(x + c * chunk, Swift.min(chunk, count - c * chunk), scales, los, his, Int32(fast.count),
                                         narrow ? 1 : 0, results + c * 2 * fast.count)
                }
                for (i, candidate) in fast.enumerated() {
                    var wide = 0.0, narrow = 0.0
                    for c in 0..<chunks {
                        wide += out[(c * fast.count + i) * 2]
                        narrow += out[(c * fast.count + i) * 2 + 1]
                    }
                    let step = Double(Pof2Quantizer.step(candidate.position))
                    sums[candidate] = (wide * (step * step), narrow * (step * step))
                }
            }
            for candidate in candidates where candidate.scale == nil {
                sums[candidate] = candidate.exactSquaredErrors(values)
            }
            return candidates.map { sums[$0]! }
        }

        /// The chunk of values `ck_activation_errors` sums at a time (a multiple of its 64-value groups).
        static let chunk = 65_536

        /// The squared errors value by value in Double (the spec's exhaustive search).
        func exactSquaredErrors(_ values: UnsafeBufferPointer<Float>) -> (wide: Double, narrow: Double) {
            let wide = Pof2Quantizer(bitWidth: bits, mode: .activation), narrow = Pof2Quantizer(bitWidth: bits, mode: .activation, narrowActivations: true)
            var w = 0.0, n = 0.0
            for x in values {
                let d = Double(wide.quantize(x, position: position)) - Double(x), dn = Double(narrow.quantize(x, position: position)) - Double(x)
                w += d * d
                n += dn * dn
            }
            return (w, n)
        }

        /// `ck_activation_errors` of one chunk for this candidate, as its header defines it, in Swift:
        /// the kernel's specification (tests compare the two bit for bit). In units of the step.
        func referenceSums(_ values: [Float]) -> (wide: Double, narrow: Double) {
            let scale = scale!, lo = range.lowerBound, hi = range.upperBound, lo1 = lo + 1
            let padded = values + [Float](repeating: 0, count: (64 - values.count % 64) % 64)
            var wide = [Double](repeating: 0, count: 16), narrow = [Double](repeating: 0, count: 16)
            for g in stride(from: 0, to: padded.count, by: 64) {
                for l in 0..<16 {
                    var a: Float = 0, an: Float = 0
                    for r in 0..<4 {
                        let t = padded[g + r * 16 + l] * scale
                        var c = t > lo ? t : lo
                        c = c < hi ? c : hi
                        let f = c.rounded(.down)
                        let k = f + (c - f >= 0.5 ? 1 : 0)
                        let e = k - t, en = (k > lo1 ? k : lo1) - t
                        a = a.addingProduct(e, e)
                        an = an.addingProduct(en, en)
                    }
                    wide[l] += Double(a)
                    narrow[l] += Double(an)
                }
            }
            return (wide.reduce(0, +), narrow.reduce(0, +))
        }
    }

    /// Whether the narrow range's errors were kept (a tensor whose candidates have errors has both, or only the DEFAULT range's).
    public var keepsNarrowErrors: Bool { zip(errors, narrowErrors).allSatisfy { $0.isEmpty || !$1.isEmpty } }

    /// The position of this batch for `bits` and `method` (activation rounding), as
    /// `Pof2Quantizer.position` would choose it from the values.
    public func position(bits: Int, method: PositionMethod, narrow: Bool) -> Int {
        let p0 = Pof2Quantizer(bitWidth: bits, mode: .activation).nonOverflowPosition(min: min, max: max)
        if method == .nonOverflow || p0 == Pof2Quantizer.allZeroPosition { return p0 }
        precondition(bitWidths.contains(bits), "calibration kept errors for bit widths \(bitWidths), not \(bits)")
        precondition(!narrow || keepsNarrowErrors, "calibration kept no errors for the narrow activation range")
        let table = (narrow ? narrowErrors : errors)[bits - 1]
        var best = 0
        for k in 1..<table.count where table[k] < table[best] { best = k }   // strict: ties keep the smaller position
        return p0 + best
    }
}
