import FileIO
import Foundation

/// `vaiq-build cache verify [--repair]`: checks every object of the store against its digest and
/// every action and stage record against its checksum. With `repair`, damaged objects move to
/// quarantine/ (the records naming them become misses, so their stages run again at the next
/// build) and unreadable records are removed; without it nothing changes.
public enum CacheVerifier {
    public struct Result: Sendable, Equatable {
        public var objects = 0
        public var bytes = 0
        public var damagedObjects: [String] = []
        public var records = 0
        public var damagedRecords: [String] = []
        /// Records whose outputs are missing from the store (misses; `cache gc` drops them).
        public var danglingRecords = 0
    }

    public static func verify(_ cache: BuildCache, repair: Bool) throws(FileIOError) -> Result {
        var result = Result()
        let fm = FileManager.default
        for (shard, name) in files(in: "\(cache.root)/objects") {
            let path = "\(cache.root)/objects/\(shard)/\(name)"
            result.objects += 1
            result.bytes += FileIO.size(path) ?? 0
            guard let digest = ContentDigest(hex: name) else {
                result.damagedObjects.append(path)
                if repair { try cache.quarantine(path) }
                continue
            }
            let found = try? ContentDigest.ofFile(path)
            if found != digest {
                result.damagedObjects.append(path)
                if repair { try cache.quarantine(path) }
            }
        }
        var recordPaths = files(in: "\(cache.root)/actions").map { "\(cache.root)/actions/\($0.0)/\($0.1)" }
        recordPaths += ((try? fm.contentsOfDirectory(atPath: "\(cache.root)/stages")) ?? []).filter { !$0.hasPrefix(".") }
            .sorted().map { "\(cache.root)/stages/\($0)" }
        for path in recordPaths {
            result.records += 1
            guard let bytes = try? FileIO.read(path), let record = BuildCache.decodeRecord(bytes) else {
                result.damagedRecords.append(path)
                if repair { unlink(path) }
                continue
            }
            if path.contains("/actions/"), !record.outputs.values.allSatisfy(cache.hasObject) { result.danglingRecords += 1 }
        }
        return result
    }

    /// (shard, file) pairs under a sharded folder, sorted, temporaries of killed writes left out.
    private static func files(in dir: String) -> [(String, String)] {
        let fm = FileManager.default
        var out: [(String, String)] = []
        for shard in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted() {
            for name in ((try? fm.contentsOfDirectory(atPath: "\(dir)/\(shard)")) ?? []).sorted() where !name.hasPrefix(".") {
                out.append((shard, name))
            }
        }
        return out
    }
}
