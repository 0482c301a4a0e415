/// Checks that the positions calibration statistics choose equal the spec's exhaustive per-batch
/// search (the slow, obvious twin of `BatchStatistics`): for
/// every candidate p0 ... p0+4 the squared error of quantizing the values, summed exactly (in
/// Double here), the smallest winning, ties to the smaller position. A difference is allowed only
/// at a near tie (the exhaustive search's two best errors within 1e-6 relative), counted apart.
public struct PositionCheck: Sendable, CustomStringConvertible {
    public var compared = 0
    public var nearTies = 0
    public var differ: [String] = []

    public init() {}

    /// The exhaustive search, and whether its two best candidates are a near tie.
    public static func exhaustive(_ values: [Float], bits: Int, narrow: Bool) -> (position: Int, nearTie: Bool) {
        let q = Pof2Quantizer(bitWidth: bits, mode: .activation, narrowActivations: narrow)
        var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
        for v in values { lo = min(lo, v); hi = max(hi, v) }
        let p0 = q.nonOverflowPosition(min: lo, max: hi)
        guard p0 != Pof2Quantizer.allZeroPosition else { return (p0, false) }
        let errors = (p0...(p0 + 4)).map { p in values.reduce(0.0) { e, x in let d = Double(q.quantize(x, position: p)) - Double(x); return e + d * d } }
        var best = 0
        for k in 1..<errors.count where errors[k] < errors[best] { best = k }
        let second = errors.indices.filter { $0 != best }.map { errors[$0] }.min()!
        let nearTie = Swift.abs(second - errors[best]) <= 1e-6 * Swift.max(Swift.abs(errors[best]), Double.leastNormalMagnitude)
        return (p0 + best, nearTie)
    }

    /// Compares the positions `BatchStatistics` of `values` chooses for `bits` (both activation
    /// ranges, min-diffs) with the exhaustive search's.
    public mutating func check(_ values: [Float], _ label: String, bits: [Int] = [2, 4, 6, 8, 16]) {
        let statistics = values.withUnsafeBufferPointer { BatchStatistics($0, bitWidths: bits) }
        for b in bits {
            for narrow in [false, true] {
                let reference = Self.exhaustive(values, bits: b, narrow: narrow)
                let got = statistics.position(bits: b, method: .minDiffs, narrow: narrow)
                compared += 1
                if reference.nearTie { nearTies += 1 }
                if got != reference.position && !reference.nearTie {
                    differ.append("\(label) bits \(b) narrow \(narrow): \(got), exhaustive \(reference.position)")
                }
            }
        }
    }

    /// Adds another check's counts.
    public mutating func merge(_ other: PositionCheck) {
        compared += other.compared
        nearTies += other.nearTies
        differ += other.differ
    }

    public var description: String { "\(compared) positions compared, \(differ.count) differ, \(nearTies) near ties" }
}

