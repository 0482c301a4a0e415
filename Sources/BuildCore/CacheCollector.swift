import FileIO
import Foundation

/// `vaiq-build cache gc`: removes cache entries the current manifests do not reference, oldest
/// use first, until the store fits `maxBytes` and nothing unreferenced is older than `maxAge`.
/// Entries referenced by a stage of the current plan (its last record, that record's action and
/// outputs) are always kept. A cache hit refreshes the mtime of the entries it reads, so "age"
/// means time since last use.
public enum CacheCollector {
    public struct Result: Sendable, Equatable {
        public var removedObjects = 0
        public var removedActions = 0
        public var removedStages = 0
        public var removedTemporaries = 0
        public var removedQuarantined = 0
        /// Folders of cluster jobs that failed twice, kept for a look (`jobs/<key>`).
        public var removedJobs = 0
        public var freedBytes = 0
        public var keptBytes = 0
    }

    private struct Entry {
        let path: String
        let bytes: Int
        let modified: Date
    }

    public static func collect(_ cache: BuildCache, liveStages: [StageID], maxBytes: Int?, maxAge: TimeInterval?,
                               now: Date = Date()) throws -> Result {
        var liveObjects = Set<String>(), liveActions = Set<String>(), liveStageFiles = Set<String>()
        for id in liveStages {
            liveStageFiles.insert(cache.stageRecordPath(id))
            guard let record = cache.lastRecord(of: id) else { continue }
            liveActions.insert(cache.actionPath(record.key))
            for digest in record.outputs.values { liveObjects.insert(cache.objectPath(digest)) }
        }
        var result = Result()
        let fm = FileManager.default
        result.removedTemporaries = cache.removeStaleTemporaries()
        // Damaged objects kept for inspection.
        for name in (try? fm.contentsOfDirectory(atPath: cache.quarantinePath)) ?? [] {
            try fm.removeItem(atPath: "\(cache.quarantinePath)/\(name)")
            result.removedQuarantined += 1
        }
        let jobs = BuildCache.jobsPath(root: cache.root)
        for name in (try? fm.contentsOfDirectory(atPath: jobs)) ?? [] {
            try fm.removeItem(atPath: "\(jobs)/\(name)")
            result.removedJobs += 1
        }
        // Stage records of stages no longer in any manifest.
        for name in (try? fm.contentsOfDirectory(atPath: "\(cache.root)/stages")) ?? [] {
            let path = "\(cache.root)/stages/\(name)"
            if !liveStageFiles.contains(path) {
                try fm.removeItem(atPath: path)
                result.removedStages += 1
            }
        }
        let objects = try entries(in: "\(cache.root)/objects")
        result.keptBytes = objects.filter { liveObjects.contains($0.path) }.reduce(0) { $0 + $1.bytes }
        var total = objects.reduce(0) { $0 + $1.bytes }
        for entry in objects.filter({ !liveObjects.contains($0.path) }).sorted(by: { $0.modified < $1.modified }) {
            let tooOld = maxAge.map { now.timeIntervalSince(entry.modified) > $0 } ?? false
            let tooBig = maxBytes.map { total > $0 } ?? false
            if tooOld || tooBig {
                try fm.removeItem(atPath: entry.path)
                total -= entry.bytes
                result.freedBytes += entry.bytes
                result.removedObjects += 1
            } else {
                result.keptBytes += entry.bytes
            }
        }
        // Action records are dropped when unreferenced and either old or pointing at a removed object.
        for entry in try entries(in: "\(cache.root)/actions") where !liveActions.contains(entry.path) {
            let tooOld = maxAge.map { now.timeIntervalSince(entry.modified) > $0 } ?? false
            let dangling = cache.action(at: entry.path) == nil
            if tooOld || dangling {
                try fm.removeItem(atPath: entry.path)
                result.removedActions += 1
            }
        }
        return result
    }

    private static func entries(in dir: String) throws -> [Entry] {
        var out: [Entry] = []
        let fm = FileManager.default
        for shard in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
            for name in (try? fm.contentsOfDirectory(atPath: "\(dir)/\(shard)")) ?? [] where !name.hasPrefix(".") {
                let path = "\(dir)/\(shard)/\(name)"
                let attrs = try fm.attributesOfItem(atPath: path)
                out.append(Entry(path: path, bytes: (attrs[.size] as? Int) ?? 0, modified: (attrs[.modificationDate] as? Date) ?? .distantPast))
            }
        }
        return out
    }

    /// Parses `500M`, `2G`, `100k` or a plain byte count.
    public static func parseSize(_ text: String) -> Int? {
        let units: [Character: Int] = ["k": 1 << 10, "K": 1 << 10, "m": 1 << 20, "M": 1 << 20, "g": 1 << 30, "G": 1 << 30]
        if let last = text.last, let unit = units[last], let n = Double(text.dropLast()) { return Int(n * Double(unit)) }
        return Int(text)
    }

    /// Parses `7d`, `12h`, `30m` or seconds.
    public static func parseAge(_ text: String) -> TimeInterval? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let last = text.last, let unit = units[last], let n = Double(text.dropLast()) { return n * unit }
        return Double(text)
    }
}
