/// What happened to one stage in a build.
public enum StageOutcome: Sendable, Equatable {
    /// The action cache had the result.
    case cached
    /// The shared (remote) cache had the result: its outputs were downloaded, checked and stored.
    case fetched
    /// The stage ran; `reasons` say why (one line each, as `--explain` prints them).
    case ran(reasons: [String])
    /// Dry run (`-n`): the stage would run, for these reasons.
    case wouldRun(reasons: [String])
    case failed(message: String)
    /// Not run because a stage it depends on failed, or the build was stopped.
    case skipped(reason: String)

    public var isSuccess: Bool {
        switch self {
        case .cached, .fetched, .ran, .wouldRun: true
        case .failed, .skipped: false
        }
    }
}

/// Receives progress as a build runs (the CLI's progress display; tests record it).
public protocol BuildObserver: Sendable {
    func stageStarted(_ id: StageID, kind: String, threads: Int)
    func stageFinished(_ id: StageID, outcome: StageOutcome, seconds: Double)
    /// A long stage's progress (calibration: batches done of total), as `StageContext.progress`
    /// reports it, counted in the stage's `progressUnit`.
    func stageProgress(_ id: StageID, done: Int, total: Int, unit: String)
    /// Something the build repaired on its way (a damaged cache object): one line, without "warning: ".
    func warning(_ message: String)
}

extension BuildObserver {
    public func stageProgress(_ id: StageID, done: Int, total: Int, unit: String) {}
    public func warning(_ message: String) {}
}

public struct BuildOptions: Sendable {
    public var jobs: Int
    public var keepGoing: Bool
    public var dryRun: Bool
    /// Hash every input file instead of trusting the stat cache.
    public var verifyInputs: Bool
    /// A cache shared between machines: asked after a local miss, filled after a stage runs.
    public var shared: (any SharedActionCache)?
    /// Where stages run when not in this process (a Slurm cluster); then `jobs` bounds the jobs in
    /// flight, one slot each, and a job asks for the CPUs its stage can use.
    public var executor: (any StageExecutor)?

    public init(jobs: Int, keepGoing: Bool = false, dryRun: Bool = false, verifyInputs: Bool = false,
                shared: (any SharedActionCache)? = nil, executor: (any StageExecutor)? = nil) {
        self.executor = executor
        self.jobs = max(1, jobs)
        self.keepGoing = keepGoing
        self.dryRun = dryRun
        self.verifyInputs = verifyInputs
        self.shared = shared
    }
}

/// The result of a build: every requested stage's outcome and its outputs' digests.
public struct BuildReport: Sendable {
    public var outcomes: [StageID: StageOutcome] = [:]
    public var outputs: [StageID: [String: ContentDigest]] = [:]
    public var seconds: [StageID: Double] = [:]
    /// Where each stage that ran spent its time (`PhaseLog`).
    public var phases: [StageID: [(phase: String, seconds: Double)]] = [:]
    /// A failed stage's error as the stage threw it (its outcome's message also names the stage).
    public var errors: [StageID: String] = [:]
    public var cancelled = false
    /// Damaged cache objects moved to quarantine and made again.
    public var repaired = 0

    public var succeeded: Bool { !cancelled && outcomes.values.allSatisfy(\.isSuccess) }
    public var ranCount: Int { outcomes.values.filter { if case .ran = $0 { true } else { false } }.count }
    public var cachedCount: Int { outcomes.values.filter { $0 == .cached }.count }
    /// Stages whose outputs came from the shared cache.
    public var fetchedCount: Int { outcomes.values.filter { $0 == .fetched }.count }
}
