/// Per-batch positions of one tensor across calibration; the frozen position is their mode, ties
/// going to the smallest position (vai_q_tensorflow TF1's rule).
public struct PositionHistogram: Sendable, Equatable, Codable {
    public private(set) var counts: [Int: Int] = [:]

    public init() {}

    public mutating func add(_ position: Int) { counts[position, default: 0] += 1 }

    /// The most frequent position (nil before any batch).
    public var mode: Int? {
        counts.min { a, b in a.value != b.value ? a.value > b.value : a.key < b.key }?.key
    }
}
