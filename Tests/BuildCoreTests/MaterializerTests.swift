import BuildCore
import FileIO
import Foundation
import XCTest

/// A private cache (not durable) hands an object over as a hard link once; a second output with
/// the same bytes is a copy; a durable cache always copies.
final class MaterializerTests: XCTestCase {
    func testPrivateCacheLinksOnceAndDurableCacheCopies() throws {
        let dir = NSTemporaryDirectory() + "vaiq-materialize-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for durable in [false, true] {
            let cache = try BuildCache(root: "\(dir)/cache-\(durable)", durable: durable)
            let stat = StatCache(path: "\(dir)/stat-\(durable)")
            let digest = try cache.store(Array("same bytes".utf8))
            XCTAssertTrue(try Materializer.place(digest, at: "\(dir)/out-\(durable)/a", cache: cache, statCache: stat))
            XCTAssertTrue(try Materializer.place(digest, at: "\(dir)/out-\(durable)/b", cache: cache, statCache: stat))
            XCTAssertEqual(try FileIO.read("\(dir)/out-\(durable)/a"), Array("same bytes".utf8))
            XCTAssertEqual(try FileIO.read("\(dir)/out-\(durable)/b"), Array("same bytes".utf8))
            XCTAssertEqual(FileIO.linkCount(cache.objectPath(digest)), durable ? 1 : 2, "durable \(durable)")
            XCTAssertEqual(FileIO.linkCount("\(dir)/out-\(durable)/b"), 1)
        }
    }

    /// A durable cache checks an object against its digest before copying it out: a damaged one
    /// is an error naming it and moves to quarantine/; nothing is written at the output's place.
    func testDamagedObjectIsNotCopiedOut() throws {
        let dir = NSTemporaryDirectory() + "vaiq-materialize-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = try BuildCache(root: "\(dir)/cache")
        let stat = StatCache(path: "\(dir)/stat")
        let digest = try cache.store(Array("model bytes".utf8))
        try FileIO.writeAtomically(Array("model bytez".utf8), to: cache.objectPath(digest))
        XCTAssertThrowsError(try Materializer.place(digest, at: "\(dir)/out/model.pb", cache: cache, statCache: stat)) {
            XCTAssertTrue("\($0)".contains("\(cache.objectPath(digest)): the cache object does not hold the bytes"), "\($0)")
        }
        XCTAssertFalse(FileIO.exists(cache.objectPath(digest)))
        XCTAssertTrue(cache.wasQuarantined(digest))
        XCTAssertTrue(FileIO.exists("\(cache.quarantinePath)/\(digest)"))
        XCTAssertFalse(FileIO.exists("\(dir)/out/model.pb"))
    }
}
