import Dispatch
import FileIO
import Foundation
import Locking
import Synchronization

/// Runs the stages of a plan: each stage whose inputs are ready is looked up in the action cache
/// by its key and run only on a miss, on a Dispatch pool that never uses more than `-j` threads
/// in total (a heavy stage is granted several of them as its thread budget). Stages of different
/// ids can share a key (matrix cells whose settings the stage does not read, e.g. two targets of
/// one arch_type): one of them runs it, the others wait off the pool and then find it cached.
public final class BuildEngine: Sendable {
    public let plan: BuildPlan
    public let cache: BuildCache
    public let statCache: StatCache
    /// Repository file inputs are relative to this directory.
    public let root: String
    private let cancelFlag = Atomic<Bool>(false)
    /// Cache objects whose bytes this engine has checked against their digests, or wrote.
    private let verified = Locked<Set<ContentDigest>>([])
    /// Held while an input object is checked and, if damaged, made again (recursive: making it
    /// again checks that stage's own inputs).
    private let repairLock = NSRecursiveLock()

    public init(plan: BuildPlan, cache: BuildCache, statCache: StatCache, root: String) {
        self.plan = plan
        self.cache = cache
        self.statCache = statCache
        self.root = root
    }

    /// Stores a stage's output; an object this engine wrote needs no check when a later stage reads it.
    private func store(_ bytes: [UInt8]) throws(FileIOError) -> ContentDigest {
        let (digest, written) = try cache.put(bytes)
        if written { verified.withLock { _ = $0.insert(digest) } }
        return digest
    }

    /// Stops the build: no new stage starts, running stages see `isCancelled`, their results are dropped.
    public func cancel() { cancelFlag.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { cancelFlag.load(ordering: .relaxed) }

    private struct State {
        var waitingOn: [StageID: Int] = [:]
        var ready: [StageID] = []
        var freeThreads = 0
        var running = 0
        var report = BuildReport()
        var stopScheduling = false
        /// Action key -> the stages waiting for the one that is running it.
        var waitingForKey: [ContentDigest: [StageID]] = [:]
        /// Stage -> the key it is running (a miss that no other stage was already running).
        var runningKeys: [StageID: ContentDigest] = [:]
    }

    /// Builds `targets` and their dependencies; returns when every one has an outcome.
    public func build(_ targets: [StageID], options: BuildOptions, observer: BuildObserver? = nil) -> BuildReport {
        let wanted = plan.closure(of: targets)
        let dependents = self.dependents(within: wanted)
        let state = Locked(State())
        let done = DispatchSemaphore(value: 0)
        let workers = DispatchQueue(label: "vaiq-build.stages", attributes: .concurrent)
        state.withLock { s in
            s.freeThreads = options.jobs
            for id in wanted { s.waitingOn[id] = plan.dependencies[id]!.count }
            s.ready = wanted.filter { s.waitingOn[$0] == 0 }.sorted().reversed()
        }
        if wanted.isEmpty { return BuildReport() }

        // Starts every ready stage the thread pool has room for. Called with the lock held.
        @Sendable func schedule(_ s: inout State) {
            while !s.stopScheduling, s.freeThreads > 0, let id = s.ready.popLast() {
                let stage = plan.stages[id]!
                let share = max(1, s.freeThreads / max(1, s.ready.count + 1))
                // A stage run as a job elsewhere takes one slot here: -j bounds the jobs in flight.
                let threads = options.executor != nil ? 1 : max(1, min(stage.maxThreads, share))
                s.freeThreads -= threads
                s.running += 1
                workers.async {
                    observer?.stageStarted(id, kind: stage.kind, threads: threads)
                    let start = DispatchTime.now().uptimeNanoseconds
                    let phases = PhaseLog()
                    let attempt = self.process(stage, threads: threads, options: options, phases: phases, observer: observer,
                                               upstream: { id in state.withLock { $0.report.outputs[id] } },
                                               claim: { key in state.withLock { s in claim(key, for: id, threads: threads, &s) } })
                    // nil: another stage is running this action; `claim` parked this one.
                    guard let (outcome, outputs, error) = attempt else { return }
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    observer?.stageFinished(id, outcome: outcome, seconds: seconds)
                    let finished: Bool = state.withLock { s in
                        s.report.outcomes[id] = outcome
                        s.report.seconds[id] = seconds
                        if let outputs { s.report.outputs[id] = outputs }
                        if let error { s.report.errors[id] = error }
                        switch outcome {
                        case .ran, .fetched: s.report.phases[id] = phases.recorded
                        default: break
                        }
                        s.running -= 1
                        s.freeThreads += threads
                        if let key = s.runningKeys.removeValue(forKey: id) {
                            s.ready.append(contentsOf: s.waitingForKey.removeValue(forKey: key) ?? [])
                        }
                        if !outcome.isSuccess && !options.keepGoing { s.stopScheduling = true }
                        if self.isCancelled { s.stopScheduling = true }
                        for next in (dependents[id] ?? []).sorted() {
                            s.waitingOn[next]! -= 1
                            if !outcome.isSuccess {
                                skip(next, because: "'\(id)' failed", &s)
                            } else if s.waitingOn[next] == 0 && s.report.outcomes[next] == nil {
                                s.ready.insert(next, at: 0)
                            }
                        }
                        schedule(&s)
                        return s.running == 0 && (s.ready.isEmpty || s.stopScheduling)
                    }
                    if finished { done.signal() }
                }
            }
        }

        /// Records that `id` runs the action `key`, or, when another stage already runs it, parks
        /// `id` until that one finishes (it then rejoins the ready list and finds the cache entry),
        /// giving its threads back meanwhile. The stage running the key keeps the build unfinished.
        @Sendable func claim(_ key: ContentDigest, for id: StageID, threads: Int, _ s: inout State) -> Bool {
            guard s.waitingForKey[key] != nil else {
                s.waitingForKey[key] = []
                s.runningKeys[id] = key
                return true
            }
            s.waitingForKey[key]!.append(id)
            s.running -= 1
            s.freeThreads += threads
            schedule(&s)
            return false
        }

        /// Marks `id` and everything downstream of it as skipped.
        @Sendable func skip(_ id: StageID, because reason: String, _ s: inout State) {
            guard s.report.outcomes[id] == nil else { return }
            s.report.outcomes[id] = .skipped(reason: reason)
            s.ready.removeAll { $0 == id }
            for next in dependents[id] ?? [] { skip(next, because: reason, &s) }
        }

        state.withLock { schedule(&$0) }
        done.wait()
        return state.withLock { s in
            for id in wanted where s.report.outcomes[id] == nil {
                s.report.outcomes[id] = .skipped(reason: isCancelled ? "the build was stopped" : "an earlier stage failed")
            }
            s.report.cancelled = isCancelled
            s.report.repaired = cache.quarantinedCount
            return s.report
        }
    }

    private func dependents(within wanted: Set<StageID>) -> [StageID: [StageID]] {
        var out: [StageID: [StageID]] = [:]
        for id in wanted { for dep in plan.dependencies[id]! { out[dep, default: []].append(id) } }
        return out
    }

    /// Looks `stage` up in the action cache and runs it on a miss that `claim` grants (false: another
    /// stage is running the same action; then nil). Returns the outcome, the outputs' digests, and
    /// on failure the error itself (without the stage's name).
    private func process(_ stage: any Stage, threads: Int, options: BuildOptions, phases: PhaseLog, observer: BuildObserver?,
                         upstream: (StageID) -> [String: ContentDigest]?,
                         claim: (ContentDigest) -> Bool) -> (StageOutcome, [String: ContentDigest]?, String?)? {
        func failed(_ prefix: String, _ error: String) -> (StageOutcome, [String: ContentDigest]?, String?) {
            (.failed(message: prefix + error), nil, error)
        }
        if isCancelled { return (.skipped(reason: "the build was stopped"), nil, nil) }
        var inputs: [String: ContentDigest] = [:]
        var paths: [String: String] = [:]
        for (name, input) in stage.inputs {
            switch input {
            case .file(let path):
                let full = FileIO.resolve(path, relativeTo: root)
                do { inputs[name] = try statCache.digest(of: full) } catch {
                    return failed("stage '\(stage.id)': input '\(name)': ", "\(error)")
                }
                paths[name] = full
            case let .output(producer, output):
                guard let digest = upstream(producer)?[output] else {
                    // Only in a dry run: the producer would run, so this input is not known yet.
                    return (.wouldRun(reasons: ["input \(name) comes from '\(producer)', which would run"]), nil, nil)
                }
                inputs[name] = digest
                paths[name] = cache.objectPath(digest)
            }
        }
        var record = ActionRecord(stage: stage, inputs: inputs)
        let key = record.key
        let previous = cache.lastRecord(of: stage.id)
        if let hit = cache.action(for: key) {
            if previous != hit { try? cache.setLastRecord(hit, of: stage.id) }
            if !options.dryRun { cache.touch(hit) }
            return (.cached, hit.outputs, nil)
        }
        var origins: [String: String] = [:]
        for (name, input) in stage.inputs {
            switch input {
            case .file(let path): origins[name] = path
            case .output(let producer, let output): origins[name] = "\(output) of \(producer)"
            }
        }
        let reasons = record.reasons(since: previous, origins: origins)
        if options.dryRun {
            let shared = options.shared?.holds(record) == true ? ["the shared cache has this action: it would be downloaded, not run"] : []
            return (.wouldRun(reasons: reasons + shared), nil, nil)
        }
        guard claim(key) else { return nil }
        if let shared = options.shared,
           let outputs = phases.time("fetch", { shared.fetch(record, required: stage.outputNames, into: cache) }) {
            record.outputs = outputs
            do {
                try cache.recordAction(record)
                try cache.setLastRecord(record, of: stage.id)
            } catch {
                return failed("stage '\(stage.id)' (\(stage.kind)): ", "\(error)")
            }
            return (.fetched, outputs, nil)
        }
        // The objects this stage reads, checked once per build against their digests. One check
        // (or repair) at a time, so a stage never quarantines an object another has just made anew.
        for (name, input) in stage.inputs {
            guard case let .output(producer, output) = input, let digest = inputs[name],
                  !verified.withLock({ $0.contains(digest) }) else { continue }
            repairLock.lock()
            defer { repairLock.unlock() }
            if verified.withLock({ $0.contains(digest) }) { continue }
            do {
                paths[name] = try cache.verifiedObjectPath(digest)
                verified.withLock { _ = $0.insert(digest) }
            } catch {
                // A damaged object (now in quarantine) is a miss of the stage that made it: that
                // stage runs again, here, and being deterministic makes the same bytes.
                let place = "stage '\(stage.id)': input '\(name)' (\(output) of \(producer)): "
                guard cache.wasQuarantined(digest), let maker = plan.stages[producer] else { return failed(place, "\(error)") }
                observer?.warning("\(error); running '\(producer)' again")
                let again = process(maker, threads: threads, options: options, phases: PhaseLog(), observer: nil,
                                    upstream: upstream, claim: { _ in true })
                guard let (outcome, outputs, _) = again, outcome.isSuccess, outputs?[output] == digest else {
                    return failed(place, "\(error); running '\(producer)' again did not make the same bytes")
                }
                paths[name] = cache.objectPath(digest)
                verified.withLock { _ = $0.insert(digest) }
            }
        }
        let stored = StoredOutputs()
        let context = StageContext(stage: stage.id, inputPaths: paths, threadBudget: threads,
                                   isCancelled: { [cancelFlag = self] in cancelFlag.isCancelled }, phases: phases,
                                   progress: { [id = stage.id, unit = stage.progressUnit] done, total in
                                       observer?.stageProgress(id, done: done, total: total, unit: unit)
                                   },
                                   store: { name, bytes in stored.add(name, try phases.time("store") { try self.store(bytes) }) })
        do {
            let produced: [String: [UInt8]]
            if let executor = options.executor {
                produced = try phases.time("job") {
                    try executor.execute(stage, action: record, inputPaths: paths, isCancelled: { [cancelFlag = self] in cancelFlag.isCancelled })
                }
            } else {
                produced = try stage.run(context)
            }
            if isCancelled { return (.skipped(reason: "the build was stopped"), nil, nil) }
            record.outputs = stored.all
            for name in stage.outputNames where produced[name] == nil && record.outputs[name] == nil {
                return failed("stage '\(stage.id)': ", "did not produce its output '\(name)'")
            }
            try phases.time("store") {
                for (name, bytes) in produced.sorted(by: { $0.key < $1.key }) { record.outputs[name] = try store(bytes) }
            }
            try cache.recordAction(record)
            try cache.setLastRecord(record, of: stage.id)
            options.shared?.upload(record, from: cache)
            return (.ran(reasons: reasons), record.outputs, nil)
        } catch {
            return failed("stage '\(stage.id)' (\(stage.kind)): ", "\(error)")
        }
    }
}
