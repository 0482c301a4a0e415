import Foundation
@testable import Quantizer
import XCTest

/// Positions and quantized values equal an independent NumPy reference (tools/fixpos_reference.py,
/// written from the spec's formulas) exactly, for methods 0/1/2, 4/8/16 bits, every mode and the
/// DPUCADF8H activation range.
final class NumPyReferenceTests: XCTestCase {
    struct Case: Decodable {
        let tensor: String
        let bits: Int
        let mode: Int
        let method: Int
        let narrow: Bool
        let position: Int
        let quantized: [Double]
    }

    struct Document: Decodable {
        let tensors: [String: [Double]]
        let cases: [Case]
    }

    func testPositionsAndValuesMatchTheReference() throws {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }
        let doc = try JSONDecoder().decode(Document.self, from: Data(contentsOf: url.appendingPathComponent("Fixtures/fixpos/cases.json")))
        XCTAssertEqual(doc.cases.count, 288)
        var differsFromNonOverflow = 0
        for c in doc.cases {
            let x = doc.tensors[c.tensor]!.map { Float($0) }
            let q = Pof2Quantizer(bitWidth: c.bits, mode: QuantizeMode(rawValue: c.mode)!, narrowActivations: c.narrow)
            let label = "\(c.tensor) b\(c.bits) mode \(c.mode) method \(c.method)\(c.narrow ? " DPUCADF8H" : "")"
            let p = q.position(x, method: PositionMethod(rawValue: c.method)!)
            XCTAssertEqual(p, c.position, label)
            XCTAssertEqual(q.quantize(x, position: c.position), c.quantized.map { Float($0) }, label)
            if p != q.position(x, method: .nonOverflow) { differsFromNonOverflow += 1 }
        }
        XCTAssertGreaterThan(differsFromNonOverflow, 10, "the fixture exercises the min-diffs search")
    }
}
