import BuildCore
import FileIO
import Foundation

/// What checking cache objects against their digests costs: `objects` distinct objects of
/// `megabytes` each are stored in a fresh cache (so they sit in the page cache, as the outputs a
/// build just made or a warm store do), then, best of `runs`:
///  - read: every object read, unchecked (`BuildCache.load`), the floor a verified read adds to;
///  - verified: every object read and hashed (`verifiedLoad`, what placement and stage inputs do);
///  - stream: every object hashed from its file in 256 KB chunks (`verifiedObjectPath`, `cache verify`);
///  - hash: XXH3-128 over one in-memory buffer of the same total size, repeated.
/// Prints one JSON line with the byte count and the four times.
func verifyBenchmark(objects: Int, megabytes: Int, runs: Int) throws {
    let root = NSTemporaryDirectory() + "vaiq-verify-bench-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: root) }
    let cache = try BuildCache(root: root)
    let size = megabytes << 20
    var digests: [ContentDigest] = []
    var blob = [UInt8](repeating: 0, count: size)
    for i in 0..<objects {
        // Distinct contents (xorshift from a per-object seed): one object each, as distinct models make.
        var state = UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
        blob.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for w in words.indices {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                words[w] = state
            }
        }
        digests.append(try cache.store(blob))
    }
    guard Set(digests).count == objects else { throw StageFailure("objects are not distinct") }
    var checksum = 0
    let read = try best(runs) { for d in digests { checksum &+= try cache.load(d).count } }
    let verified = try best(runs) { for d in digests { checksum &+= try cache.verifiedLoad(d).count } }
    let stream = try best(runs) { for d in digests { checksum &+= try cache.verifiedObjectPath(d).utf8.count } }
    // One byte changed per pass, so no pass can be skipped as a repeat of the one before.
    let hash = best(runs) {
        for i in 0..<objects {
            blob[i % size] &+= 1
            checksum &+= Int(truncatingIfNeeded: ContentDigest(of: blob).high)
        }
    }
    let bytes = objects * size
    print(#"{"what": "verify", "objects": \#(objects), "bytes": \#(bytes), "read": \#(read), "verified": \#(verified), "stream": \#(stream), "hash": \#(hash), "checksum": \#(checksum & 1)}"#)
}
