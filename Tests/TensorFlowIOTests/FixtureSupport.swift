import Foundation
import XCTest

/// Paths into Tests/Fixtures (made by tools/make_fixtures.py) and scratch copies to corrupt.
enum Fixtures {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()   // TensorFlowIOTests
        url.deleteLastPathComponent()   // Tests
        return url.appendingPathComponent("Fixtures").path
    }()

    static func path(_ relative: String) -> String { "\(root)/\(relative)" }

    struct Meta: Decodable {
        struct Variable: Decodable {
            let dtype: String
            let shape: [Int]
        }
        let output_nodes: [String]
        let variables: [String: Variable]
    }

    static func meta(_ model: String) throws -> Meta {
        try JSONDecoder().decode(Meta.self, from: Data(contentsOf: URL(fileURLWithPath: path("\(model)/meta.json"))))
    }

    /// A private copy of a fixture model directory; removed when the test ends.
    static func scratchCopy(of model: String, test: XCTestCase) throws -> String {
        let dir = NSTemporaryDirectory() + "vaiq-\(model)-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: path(model), toPath: dir)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// Flips one bit of the byte at `offset` (negative: from the end).
    static func flipByte(_ file: String, at offset: Int) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let i = offset >= 0 ? offset : bytes.count + offset
        bytes[i] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: file))
    }

    static func truncate(_ file: String, to length: Int) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        try bytes.prefix(length).write(to: URL(fileURLWithPath: file))
    }
}
