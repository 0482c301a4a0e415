import ArgumentParser
import BuildCore
import Foundation

struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cache", abstract: "Manage the build cache.",
                                                    subcommands: [GC.self, Verify.self])

    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Remove cache entries the current manifests do not use, least recently used first.",
            discussion: "Entries of the stages the manifests declare are always kept. Sizes: 500M, 2G; ages: 12h, 7d.")

        @OptionGroup var repository: RepositoryOptions

        @Option(name: .customLong("max-size"), help: "Shrink the store to at most this size.")
        var maxSize: String?

        @Option(name: .customLong("max-age"), help: "Remove unused entries not used for this long.")
        var maxAge: String?

        func validate() throws {
            if maxSize == nil && maxAge == nil { throw ValidationError("give --max-size, --max-age or both") }
            if let maxSize, CacheCollector.parseSize(maxSize) == nil { throw ValidationError("--max-size: '\(maxSize)' is not a size (e.g. 500M, 2G)") }
            if let maxAge, CacheCollector.parseAge(maxAge) == nil { throw ValidationError("--max-age: '\(maxAge)' is not an age (e.g. 12h, 7d)") }
        }

        func run() throws {
            let pipeline = try repository.pipeline()
            let cache = try repository.cache()
            let lock = try failing { try BuildLock(cache: cache) }
            let result = try withExtendedLifetime(lock) {
                try CacheCollector.collect(cache, liveStages: pipeline.stages.map(\.id),
                                           maxBytes: maxSize.flatMap(CacheCollector.parseSize), maxAge: maxAge.flatMap(CacheCollector.parseAge))
            }
            print("removed \(result.removedObjects) objects (\(result.freedBytes) bytes), \(result.removedActions) action records, "
                  + "\(result.removedStages) stale stage records, \(result.removedTemporaries) temporary files of killed builds, "
                  + "\(result.removedQuarantined) quarantined objects, \(result.removedJobs) failed jobs' folders; \(result.keptBytes) bytes kept")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check every cache object against its digest and every record against its checksum.",
            discussion: """
                Lists each damaged object or record and prints the counts; exits 1 if it found damage \
                that it did not repair. --repair moves damaged objects to <cache>/quarantine (removed \
                by `cache gc`) and removes unreadable records: the stages that made them run again at \
                the next build. A build verifies each object it reads anyway; this scans the whole store.
                """)

        @OptionGroup var repository: RepositoryOptions

        @Flag(help: "Quarantine damaged objects and remove unreadable records.")
        var repair = false

        func run() throws {
            let cache = try repository.cache()
            let lock = try failing { try BuildLock(cache: cache) }
            let start = Date()
            let r = try withExtendedLifetime(lock) { try failing { try CacheVerifier.verify(cache, repair: repair) } }
            let seconds = Date().timeIntervalSince(start)
            for path in r.damagedObjects { print("damaged object: \(path)") }
            for path in r.damagedRecords { print("damaged record: \(path)") }
            let damaged = r.damagedObjects.count + r.damagedRecords.count
            let advice = damaged == 0 ? "" : repair ? "; repaired (the next build makes them again)" : "; run `vaiq-build cache verify --repair`"
            print(String(format: "%d objects (%.1f MB) and %d records checked in %.2f s: %d damaged objects, %d damaged records, %d records whose outputs are gone",
                         r.objects, Double(r.bytes) / 1e6, r.records, seconds, r.damagedObjects.count, r.damagedRecords.count,
                         r.danglingRecords) + advice)
            if damaged > 0 && !repair { throw ExitCode(1) }
        }
    }
}
