/// A seeded linear congruential generator for test data: the same values on every machine.
struct TestRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state
    }
    /// Uniform in [0, 1) with 24 random bits.
    mutating func uniform() -> Float {
        Float(next() >> 40) / Float(1 << 24)
    }
}
