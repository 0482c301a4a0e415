import BuildCore
import FileIO
import XCTest

final class ContentDigestTests: XCTestCase {
    func testEmptyInputMatchesXxhsum() {
        // `xxhsum -H2 /dev/null` prints 99aa06d3014798d86001c324468d497f.
        XCTAssertEqual(ContentDigest(of: []).description, "99aa06d3014798d86001c324468d497f")
    }

    func testStreamingEqualsOneShotAcrossChunkBoundaries() throws {
        let path = NSTemporaryDirectory() + "vaiq-digest-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<(600 << 10) + 13).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try FileIO.writeAtomically(bytes, to: path)
        XCTAssertEqual(try ContentDigest.ofFile(path), ContentDigest(of: bytes))
        XCTAssertNotEqual(ContentDigest(of: bytes), ContentDigest(of: Array(bytes.dropLast())))
    }
}
