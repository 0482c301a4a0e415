import ArgumentParser
import BuildCore
import Dispatch
import FileIO
import Foundation
import Pipeline
import RemoteCache

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

    @OptionGroup(title: "Remote cache") var shared: SharedCacheOptions

    @OptionGroup(title: "Cluster") var executor: ExecutorOptions

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

    @Flag(help: "Print a JSON report instead of progress lines (it lists every updated path).")
    var json = false

    @Flag(name: .shortAndLong, help: "List every updated output path (the summary names at most 5).")
    var verbose = false

    @Flag(name: .customLong("verify-inputs"),
          help: "Hash every input and output file instead of trusting the stat cache (size, mtime, inode, device).")
    var verifyInputs = false

    func validate() throws {
        if jobs < 1 { throw ValidationError("-j must be at least 1") }
    }

    func run() throws {
        let report = try performBuild(repository, targets: targets,
                                      options: BuildOptions(jobs: jobs, keepGoing: keepGoing, dryRun: dryRun, verifyInputs: verifyInputs),
                                      explain: explain, json: json, verbose: verbose, shared: shared,
                                      executor: executor)
        if report.cancelled { throw ExitCode(2) }
        if !report.succeeded { throw ExitCode(1) }
    }
}

/// One build of `targets`: the session (plan, lock, engine, placing outputs) lives in Pipeline;
/// this shows its progress and result.
func performBuild(_ repository: RepositoryOptions, targets: [String], options: BuildOptions, explain: Bool,
                  json: Bool, verbose: Bool = false, shared: SharedCacheOptions, executor: ExecutorOptions) throws -> BuildReport {
    let pipeline = try repository.pipeline()
    let selected = try failing { try pipeline.targets(matching: targets) }
    let session = try failing { try BuildSession(root: repository.repo, stages: pipeline.stages, cache: try repository.cache()) }
    let progress = ProgressPrinter(total: session.closure(of: selected).count, explain: explain || options.dryRun, quiet: json)
    var options = options
    if !options.dryRun { options.executor = try executor.make(pipeline, repository: repository) { progress.warning($0) } }
    let tier = try shared.tier(pipeline.manifest.settings, jobs: options.jobs) { progress.warning($0) }
    options.shared = tier
    let interrupt = InterruptHandler { session.engine.cancel() }
    let result = try failing {
        try session.build(selected, options: options, observer: progress) {
            Console.err("vaiq-build: waiting for another build using \(session.cache.root)\n")
        }
    }
    interrupt.stop()
    if !options.dryRun {
        BuildLog.record(result.report, repo: repository.repo)
        if !json { for warning in pipeline.dpuSplitWarnings(result.report, cache: session.cache) { progress.warning(warning) } }
    }
    let remote = tier.map { RemoteJSON($0) }
    if json {
        try printJSON(BuildJSON(report: result.report, plan: session.plan, written: result.written, seconds: result.seconds,
                                profile: result.profile, remote: remote))
    } else {
        progress.finish(result.report, written: result.written, seconds: result.seconds, dryRun: options.dryRun, verbose: verbose)
        if let remote, !options.dryRun { progress.note(remote.summary) }
    }
    return result.report
}

/// Turns SIGINT into a call (the build's cancel) instead of killing the process mid-write.
final class InterruptHandler {
    private let source: DispatchSourceSignal

    init(_ onInterrupt: @escaping @Sendable () -> Void) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            Console.err("\nvaiq-build: interrupted; stopping\n")
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
        /// Where a stage that ran spent its time (parse, inference, statistics, write, store, ...).
        let phases: [String: Double]?
    }
    let ok: Bool
    let cancelled: Bool
    let ran: Int
    let cached: Int
    /// Stages whose outputs came from the remote cache.
    let fetched: Int
    let failed: Int
    let seconds: Double
    let materialized: [String]
    let stages: [StageEntry]
    let remote: RemoteJSON?

    init(report: BuildReport, plan: BuildPlan, written: [String], seconds: Double, profile: Profile, remote: RemoteJSON?) {
        self.remote = remote
        fetched = report.fetchedCount
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
            case .fetched: ("remote-hit", nil, nil)
            case .ran(let r): ("ran", r, nil)
            case .wouldRun(let r): ("would-run", r, nil)
            case .failed(let m): ("failed", nil, m)
            case .skipped(let m): ("skipped", nil, m)
            }
            return StageEntry(id: id.rawValue, kind: plan.stages[id]!.kind, outcome: name, reasons: reasons, message: message,
                              seconds: report.seconds[id], phases: profile.stages.first { $0.id == id.rawValue }?.phases)
        }
    }
}

/// What the remote cache did in a build (the JSON's `remote`, and a summary line). The URL is shown
/// without credentials; a token is never in it.
struct RemoteJSON: Encodable {
    let url: String
    let upload: Bool
    let hits: Int
    let misses: Int
    let corrupt: Int
    let uploaded_actions: Int
    let uploaded_blobs: Int
    let bytes_downloaded: Int
    let bytes_uploaded: Int
    let warning: String?

    init(_ tier: RemoteTier) {
        let s = tier.statistics
        url = tier.client.url
        upload = tier.uploads
        hits = s.hits
        misses = s.misses
        corrupt = s.corrupt
        uploaded_actions = s.uploadedActions
        uploaded_blobs = s.uploadedBlobs
        bytes_downloaded = s.bytesDownloaded
        bytes_uploaded = s.bytesUploaded
        warning = s.warning
    }

    var summary: String {
        var text = "remote cache \(url): \(hits) hit\(hits == 1 ? "" : "s"), \(misses) miss\(misses == 1 ? "" : "es")"
        if corrupt > 0 { text += " (\(corrupt) with a missing or damaged blob)" }
        text += ", \(megabytes(bytes_downloaded)) down"
        text += upload ? "; uploaded \(uploaded_actions) action\(uploaded_actions == 1 ? "" : "s"), \(uploaded_blobs) blob\(uploaded_blobs == 1 ? "" : "s"), \(megabytes(bytes_uploaded))"
                       : "; uploads off"
        return text
    }
}

private func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
