import BuildCore
import Dispatch
import FileIO
import Foundation

/// One build: a plan of stages over a cache, run by the engine under the cache's lock, and the
/// stage outputs that the requested targets declare placed at their paths (copies from the
/// content store). The CLI only shows progress and results; `vaiq-build quantize` runs its
/// `QuantizeJob` through a session too, so both roads share this code.
public final class BuildSession: Sendable {
    public let root: String
    public let plan: BuildPlan
    public let cache: BuildCache
    public let statCache: StatCache
    public let engine: BuildEngine

    /// What a build did: every stage's outcome, and the paths (repository-relative, as declared)
    /// that were written because their bytes changed.
    public struct Result: Sendable {
        public let report: BuildReport
        public let written: [String]
        public let seconds: Double
        public let profile: Profile
    }

    public init(root: String, stages: [any Stage], cache: BuildCache) throws(Pipeline.Failure) {
        self.root = root
        self.cache = cache
        do { plan = try BuildPlan(stages) } catch { throw Pipeline.Failure(description: error.description) }
        statCache = StatCache(path: "\(cache.root)/stat")
        engine = BuildEngine(plan: plan, cache: cache, statCache: statCache, root: root)
    }

    /// Builds `targets`, then places their outputs (not in a dry run). `waiting` is called once
    /// if another process holds the cache's lock.
    public func build(_ targets: [BuildTarget], options: BuildOptions, observer: BuildObserver? = nil,
                      waiting: () -> Void = {}) throws(Pipeline.Failure) -> Result {
        let lock: BuildLock
        do { lock = try BuildLock(cache: cache, waiting: waiting) } catch { throw Pipeline.Failure(description: error.description) }
        defer { withExtendedLifetime(lock) {} }
        let start = DispatchTime.now().uptimeNanoseconds
        if options.verifyInputs { statCache.trustNothing() }
        var report = engine.build(targets.flatMap(\.stages), options: options, observer: observer)
        var written: [String] = []
        // Temporaries a killed writer left among the objects and action records belong to a stage
        // whose record it never wrote, which ran again now: a build that ran none skips the 512
        // shard folders (stage records, rewritten on hits too, are always checked).
        if !options.dryRun {
            cache.removeStaleTemporaries(shards: report.outcomes.values.contains { if case .cached = $0 { false } else { true } })
        }
        if !options.dryRun {
            for target in targets {
                // All or nothing: a target with a stage that did not succeed keeps its previous
                // outputs; the others' files are all prepared beside their places, then renamed.
                guard target.outputs.allSatisfy({ report.outputs[$0.stage] != nil }) else { continue }
                var prepared: [(tmp: String, path: String, relative: String)] = []
                do {
                    for m in target.outputs {
                        let produced = report.outputs[m.stage]!
                        for (output, relative) in m.files(among: Array(produced.keys)) {
                            let digest = produced[output]!
                            let path = FileIO.resolve(relative, relativeTo: root)
                            try FileIO.checkInside(relative, root: root)
                            let tmp: String?
                            do throws(any Error) {
                                tmp = try Materializer.prepare(digest, at: path, cache: cache, statCache: statCache)
                            } catch {
                                guard cache.wasQuarantined(digest) else { throw error }
                                // Damaged (now in quarantine): the stage that made it runs again, then the copy.
                                observer?.warning("\(error); running '\(m.stage)' again")
                                let again = engine.build([m.stage], options: options, observer: nil)
                                guard again.succeeded, again.outputs[m.stage]?[output] == digest else {
                                    throw Pipeline.Failure(description: "\(error); running '\(m.stage)' again did not make the same bytes")
                                }
                                tmp = try Materializer.prepare(digest, at: path, cache: cache, statCache: statCache)
                            }
                            if let tmp { prepared.append((tmp, path, relative)) }
                        }
                    }
                    for file in prepared {
                        try FileIO.commit(file.tmp, to: file.path, durable: cache.durable)
                        written.append(file.relative)
                    }
                } catch {
                    for file in prepared { unlink(file.tmp) }
                    if let failure = error as? Pipeline.Failure { throw failure }
                    throw Pipeline.Failure(description: "\(error)")
                }
            }
            report.repaired = cache.quarantinedCount
        }
        // Uploads to the shared cache read objects of this cache: they end under its lock.
        options.shared?.finish()
        try? statCache.save()
        return Result(report: report, written: written, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
                      profile: Profile(report, plan: plan))
    }

    /// The stages `targets` need, with everything they depend on.
    public func closure(of targets: [BuildTarget]) -> Set<StageID> { plan.closure(of: targets.flatMap(\.stages)) }
}
