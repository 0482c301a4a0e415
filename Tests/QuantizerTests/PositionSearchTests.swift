import Foundation
import Quantizer
import XCTest

/// `PositionCheck`: the statistics' positions against the spec's exhaustive search.
final class PositionSearchTests: XCTestCase {
    /// Heavy tails, all-equal, mostly zeros, subnormals, relu-like, values on the grid, huge and
    /// tiny scales, single values.
    func testRandomizedCorpusAgreesWithTheExhaustiveSearch() {
        var random = TestRandom(seed: 2026)
        func u() -> Float { random.uniform() }
        func normal() -> Float { (-2 * log(Swift.max(u(), 1e-7))).squareRoot() * cos(2 * .pi * u()) }
        var agreement = PositionCheck()
        for trial in 0..<60 {
            let n = [1, 3, 17, 256, 1000, 4099][trial % 6]
            let scale = Float(pow(2.0, Double(trial % 13) - 6))
            let kind = trial % 10
            let values: [Float] = (0..<n).map { _ in
                switch kind {
                case 0: return normal() * scale
                case 1: return tan(.pi * (u() - 0.5)) * scale * 0.01                       // Cauchy: heavy tails
                case 2: return scale * 1.5                                                    // all equal
                case 3: return u() < 0.97 ? 0 : normal() * scale                              // mostly zeros
                case 4: return normal() * 1e-39                                               // subnormal
                case 5: return Swift.max(0, normal()) * scale                                 // relu
                case 6: return (normal() * 32 * scale).rounded() / 32                         // on a grid: exact ties
                case 7: return normal() * 1e30
                case 8: return normal() * scale * (u() < 0.01 ? 100 : 1)                      // outliers
                default: return u() * 6 * scale                                               // relu6-like
                }
            }
            agreement.check(values, "trial \(trial) kind \(kind) n \(n)")
        }
        XCTAssertEqual(agreement.differ, [], "\(agreement)")
        XCTAssertEqual(agreement.compared, 60 * 5 * 2)
        print("position search, randomized corpus: \(agreement)")
    }
}
