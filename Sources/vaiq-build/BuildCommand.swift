import ArgumentParser
import BuildCore
import Dispatch
import FileIO
import Foundation
import Pipeline

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build targets of the model repository (the default command: `vaiq-build all`, `vaiq-build digits*`).",
        discussion: """
            Reads every manifests/*.yaml, plans the stages, and runs only those whose action key (stage \
            kind, version, the parameters it reads, and its inputs' content digests) has no cache entry. \
            Outputs are copied under build/. Exit status: 0 success, 1 a stage failed or the manifests \
            are invalid, 2 usage error or interrupted (Ctrl-C: running stages are abandoned and nothing \
            half-written is kept).
            """
    )

    @OptionGroup var repository: RepositoryOptions

    @Argument(help: "Targets or shell globs (`all`, the default, builds everything).")
    var targets: [String] = []

    @Option(name: [.customShort("j", allowingJoined: true), .long], help: "Run at most N threads of stages at once (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(name: .shortAndLong, help: "Keep going: build everything that does not depend on a failed stage.")
    var keepGoing = false

    @Flag(name: .customShort("n"), help: "Dry run: show what would run and why, run nothing.")
    var dryRun = false

    @Flag(help: "Print why each stage runs (one line per reason).")
    var explain = false

    @Flag(help: "Print a JSON report instead of progress lines.")
    var json = false

    func validate() throws {
        if jobs < 1 { throw ValidationError("-j must be at least 1") }
    }

    func run() throws {
        let report = try performBuild(repository, targets: targets,
                                      options: BuildOptions(jobs: jobs, keepGoing: keepGoing, dryRun: dryRun),
                                      explain: explain, json: json)
        if report.cancelled { throw ExitCode(2) }
        if !report.succeeded { throw ExitCode(1) }
    }
}

/// One build of `targets`: plan, lock the cache, run, materialize outputs, report.
func performBuild(_ repository: RepositoryOptions, targets: [String], options: BuildOptions, explain: Bool,
                  json: Bool) throws -> BuildReport {
    let pipeline = try repository.pipeline()
    let selected = try failing { try pipeline.targets(matching: targets) }
    let cache = try repository.cache()
    let lock = try failing {
        try BuildLock(cache: cache) { FileHandle.standardError.write(Data("vaiq-build: waiting for another build using \(cache.root)\n".utf8)) }
    }
    defer { withExtendedLifetime(lock) {} }
    let statCache = repository.statCache(cache)
    let plan = try repository.plan(pipeline)
    let engine = BuildEngine(plan: plan, cache: cache, statCache: statCache, root: repository.repo)
    let wanted = selected.flatMap(\.stages)
    let progress = ProgressPrinter(total: plan.closure(of: wanted).count, explain: explain || options.dryRun, quiet: json)
    let interrupt = InterruptHandler { engine.cancel() }
    let start = DispatchTime.now().uptimeNanoseconds
    let report = engine.build(wanted, options: options, observer: progress)
    interrupt.stop()
    var written: [String] = []
    if !options.dryRun {
        for target in selected {
            for m in target.outputs {
                guard let digest = report.outputs[m.stage]?[m.output] else { continue }
                let path = FileIO.resolve(m.path, relativeTo: repository.repo)
                if try failing({ try Materializer.place(digest, at: path, cache: cache, statCache: statCache) }) { written.append(m.path) }
            }
        }
    }
    try? statCache.save()
    if !options.dryRun {
        var cells: [StageID: [String]] = [:]
        for target in pipeline.targets where target.name.contains("/") {
            for stage in plan.closure(of: target.stages) { cells[stage, default: []].append(target.name) }
        }
        BuildLog.record(report, cells: cells, repo: repository.repo)
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    if json {
        try printJSON(BuildJSON(report: report, plan: plan, written: written, seconds: seconds))
    } else {
        progress.finish(report, written: written, seconds: seconds, dryRun: options.dryRun)
    }
    return report
}

/// Turns SIGINT into a call (the build's cancel) instead of killing the process mid-write.
final class InterruptHandler {
    private let source: DispatchSourceSignal

    init(_ onInterrupt: @escaping @Sendable () -> Void) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            FileHandle.standardError.write(Data("\nvaiq-build: interrupted; stopping\n".utf8))
            onInterrupt()
        }
        source.resume()
    }

    func stop() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}

private struct BuildJSON: Encodable {
    struct StageEntry: Encodable {
        let id: String
        let kind: String
        let outcome: String
        let reasons: [String]?
        let message: String?
        let seconds: Double?
    }
    let ok: Bool
    let cancelled: Bool
    let ran: Int
    let cached: Int
    let failed: Int
    let seconds: Double
    let materialized: [String]
    let stages: [StageEntry]

    init(report: BuildReport, plan: BuildPlan, written: [String], seconds: Double) {
        ok = report.succeeded
        cancelled = report.cancelled
        ran = report.ranCount
        cached = report.cachedCount
        failed = report.outcomes.values.filter { if case .failed = $0 { true } else { false } }.count
        self.seconds = seconds
        materialized = written
        stages = report.outcomes.keys.sorted().map { id in
            let (name, reasons, message): (String, [String]?, String?) = switch report.outcomes[id]! {
            case .cached: ("cached", nil, nil)
            case .ran(let r): ("ran", r, nil)
            case .wouldRun(let r): ("would-run", r, nil)
            case .failed(let m): ("failed", nil, m)
            case .skipped(let m): ("skipped", nil, m)
            }
            return StageEntry(id: id.rawValue, kind: plan.stages[id]!.kind, outcome: name, reasons: reasons, message: message,
                              seconds: report.seconds[id])
        }
    }
}
