import Foundation

/// A histogram of |x| over calibration batches, kept the way TensorFlow 2's float-scale
/// quantizers keep it (spec 9.4): the first batch fixes 2048 equal bins over [0, max |x|]; a
/// later batch with a larger maximum extends the edges with the same width; counts add up.
///
/// Memory is bounded by `maxBins`, never by the values: where extending at the same width would
/// need more bins (a later batch's maximum beyond 8x the first's), neighbouring bins are merged
/// pairwise, doubling the width, until the range fits (vaiq-build's choice; TensorFlow would
/// allocate the bins). Values must be finite.
public struct AbsHistogram: Sendable, Codable, Equatable {
    public private(set) var width: Double = 0
    public private(set) var counts: [Int] = []

    public static let initialBins = 2048
    public static let maxBins = 8 * initialBins

    public init() {}

    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        var top = 0.0
        for v in values { top = max(top, Double(abs(v))) }
        if counts.isEmpty {
            guard top > 0 else { return }
            width = top / Double(Self.initialBins)
            counts = [Int](repeating: 0, count: Self.initialBins)
        } else if top > width * Double(counts.count) {
            // Bins needed at the current width, computed in Double (a huge ratio must not trap).
            while (top / width).rounded(.up) > Double(Self.maxBins) { mergePairs() }
            let needed = Int((top / width).rounded(.up))
            if needed > counts.count { counts += [Int](repeating: 0, count: needed - counts.count) }
        }
        let last = counts.count - 1
        for v in values {
            // np.histogram: bin = floor(x / width); the top edge belongs to the last bin.
            counts[min(Int(Double(abs(v)) / width), last)] += 1
        }
    }

    /// Doubles the width: bins 2i and 2i+1 become bin i.
    private mutating func mergePairs() {
        counts = stride(from: 0, to: counts.count, by: 2).map { counts[$0] + (($0 + 1 < counts.count) ? counts[$0 + 1] : 0) }
        width *= 2
    }

    public func edge(_ i: Int) -> Double { Double(i) * width }

    /// The |x| below which `percentile` percent of the values lie (the first edge whose CDF reaches it).
    public func percentileAmax(_ percentile: Double) -> Double {
        let total = Double(counts.reduce(0, +))
        guard total > 0 else { return 0 }
        var running = 0.0
        for (i, c) in counts.enumerated() {
            running += Double(c)
            if running / total >= percentile / 100 { return edge(i) }
        }
        return edge(counts.count)
    }

    /// The threshold minimizing the KL divergence between the clipped distribution and its
    /// 128-level quantization (TensorRT-style entropy calibration, as spec 9.4 describes): bin 0
    /// takes bin 1's count; candidates i = 128 ... bins; the last minimum wins.
    public func klAmax(levels: Int = 128) -> Double {
        guard counts.count > levels else { return edge(counts.count) }
        var bins = counts.map(Double.init)
        bins[0] = bins[1]
        let total = bins.reduce(0, +)
        var suffix = [Double](repeating: 0, count: bins.count + 1)
        for i in stride(from: bins.count - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + bins[i] }
        var best = Double.infinity, bestIndex = levels
        var group = [Int](repeating: 0, count: bins.count)
        for i in levels...bins.count {
            let step = Double(i) / Double(levels)
            var merged = [Double](repeating: 0, count: levels), used = [Int](repeating: 0, count: levels)
            for idx in 0..<i {
                var g = Int(Double(idx) / step)
                if Double(g + 1) * step <= Double(idx) { g += 1 }
                if Double(g) * step > Double(idx) { g -= 1 }
                group[idx] = g
                if bins[idx] != 0 {
                    merged[g] += bins[idx]
                    used[g] += 1
                }
            }
            // Reference: the first i bins with the outliers added to the last; candidate: each
            // non-empty bin gets its group's mean count.
            var p = [Double](repeating: 0, count: i), q = p
            for idx in 0..<i {
                p[idx] = bins[idx]
                if bins[idx] != 0 { q[idx] = merged[group[idx]] / Double(used[group[idx]]) }
            }
            p[i - 1] += suffix[i]
            let pSum = p.reduce(0, +), qSum = q.reduce(0, +)
            guard pSum > 0, qSum > 0, abs(pSum - total) < 0.5 else { continue }
            var divergence = 0.0
            for idx in 0..<i where p[idx] > 0 {
                let pi = p[idx] / pSum, qi = q[idx] / qSum
                divergence += qi > 0 ? pi * Foundation.log(pi / qi) : .infinity
            }
            if divergence <= best {   // the last minimum wins
                best = divergence
                bestIndex = i
            }
        }
        return edge(bestIndex)
    }
}
