import BuildCore
import FileIO
import Foundation
import Locking
import XCTest

/// A write that fails part-way (disk full, an I/O error), injected at the seam every file write
/// goes through (`FileIO.writeBytes`): no partial object, no temporary file, one error naming the
/// path and the cause, and the next build with space succeeds.
final class WriteFailureTests: XCTestCase {
    override func tearDown() { FileIO.writeBytes = { fd, bytes, count in write(fd, bytes, count) } }

    /// Every write after the first `allowed` bytes fails with ENOSPC.
    /// (Builds write from several threads: the budget is shared under a lock.)
    private func failWrites(after allowed: Int) {
        let left = Locked(allowed)
        FileIO.writeBytes = { fd, bytes, count in
            left.withLock { left in
                guard left > 0 else { errno = ENOSPC; return -1 }
                let n = write(fd, bytes, min(count, left))
                if n > 0 { left -= n }
                return n
            }
        }
    }

    private func temporaries(under root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []).filter { $0.contains(".tmp-") }
    }

    func testAFailedObjectWriteLeavesNothing() throws {
        let root = NSTemporaryDirectory() + "vaiq-writefail-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let cache = try BuildCache(root: "\(root)/cache")
        let bytes = [UInt8]((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        failWrites(after: 40_000)
        XCTAssertThrowsError(try cache.store(bytes)) { error in
            let digest = ContentDigest(of: bytes)
            XCTAssertEqual("\(error)", "\(cache.objectPath(digest)): write failed: No space left on device")
        }
        XCTAssertFalse(cache.hasObject(ContentDigest(of: bytes)))
        XCTAssertEqual(temporaries(under: root), [])
        tearDown()
        let digest = try cache.store(bytes)
        XCTAssertEqual(try cache.verifiedLoad(digest), bytes)
    }

    func testABuildWhoseWritesFailFailsCleanlyAndTheNextSucceeds() throws {
        let repo = try FakeRepository(test: "write-failure")
        defer { repo.remove() }
        failWrites(after: 3_000)
        let failed = try repo.build()
        XCTAssertFalse(failed.succeeded)
        let messages = failed.outcomes.values.compactMap { if case let .failed(message) = $0 { message } else { nil } }
        XCTAssertFalse(messages.isEmpty)
        XCTAssertTrue(messages.allSatisfy { $0.contains("No space left on device") && $0.split(separator: "\n").count == 1 }, "\(messages)")
        XCTAssertEqual(temporaries(under: repo.root), [])
        tearDown()
        let again = try repo.build()
        XCTAssertTrue(again.succeeded)
        // Every object the cache holds is whole.
        let verify = try CacheVerifier.verify(try BuildCache(root: "\(repo.root)/cache"), repair: false)
        XCTAssertEqual(verify.damagedObjects, [])
        XCTAssertEqual(verify.damagedRecords, [])
    }
}
