import ArgumentParser
import BuildCore
import Foundation

struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cache", abstract: "Manage the build cache.",
                                                    subcommands: [GC.self])

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
                  + "\(result.removedStages) stale stage records, \(result.removedTemporaries) temporary files of killed builds; "
                  + "\(result.keptBytes) bytes kept")
        }
    }
}
