/// A seeded linear congruential generator for test data: the same values on every machine.
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    /// Uniform in [0, 1) with 24 random bits.
    mutating func uniform() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 24)
    }
}
