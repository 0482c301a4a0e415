import Foundation
@testable import Quantizer
import XCTest

/// The calibrate stage's statistics as JSON: the error lists travel as base64 float64 bit
/// patterns, so a decoded `BatchStatistics` equals the encoded one bit for bit (the positions a
/// cell chooses from it are the ones chosen from the computed statistics), and a damaged list is
/// one decoding error.
final class StatisticsCodingTests: XCTestCase {
    func testRoundTripIsBitExact() throws {
        var random = TestRandom(seed: 9)
        let values = (0..<5_000).map { _ in (random.uniform() * 2 - 1) * 3 } + [0, -0.0, 1e-40, 6]
        for (bitWidths, narrow) in [([8], false), ([4, 6, 8, 16], true), (Array(1...16), true)] {
            let stats = values.withUnsafeBufferPointer { BatchStatistics($0, bitWidths: bitWidths, narrow: narrow) }
            let encoded = try JSONEncoder().encode(stats)
            let decoded = try JSONDecoder().decode(BatchStatistics.self, from: encoded)
            XCTAssertEqual(decoded, stats)
            XCTAssertEqual(decoded.errors.flatMap { $0 }.map(\.bitPattern), stats.errors.flatMap { $0 }.map(\.bitPattern))
            XCTAssertEqual(decoded.narrowErrors.flatMap { $0 }.map(\.bitPattern), stats.narrowErrors.flatMap { $0 }.map(\.bitPattern))
            XCTAssertEqual(decoded.min.bitPattern, stats.min.bitPattern)
        }
        let bad = Data(#"{"min":0,"max":1,"bitWidths":[8],"errors":["not base64!"],"narrowErrors":[]}"#.utf8)
        XCTAssertThrowsError(try JSONDecoder().decode(BatchStatistics.self, from: bad))
    }
}
