import Dispatch
import Locking

/// The narrow waist between the build engine and the quantizer: a stage has a kind, a version,
/// the parameters it reads, its inputs and a `run`. The engine knows nothing else about it.
///
/// A stage's action key is the digest of exactly those (plus its inputs' *content* digests), so a
/// parameter a stage does not declare cannot invalidate it, and an upstream rerun that reproduces
/// identical bytes leaves the key unchanged (early cutoff). Bump `version` whenever the stage's
/// semantics change: old cache entries then stop matching.
public protocol Stage: Sendable {
    /// Unique within a build plan, stable across runs (`freeze/digits`, `quantize/digits/w4a8/DPUCZDX8G`).
    var id: StageID { get }
    /// What the stage does (`freeze`, `calibrate`, ...); part of the key.
    var kind: String { get }
    var version: Int { get }
    /// The canonical parameters the stage reads, and only those.
    var parameters: [String: ParameterValue] { get }
    /// Named inputs: files of the repository or outputs of other stages.
    var inputs: [String: StageInput] { get }
    /// Names of the outputs `run` returns.
    var outputNames: [String] { get }
    /// How many threads the stage can use well (1 for light stages); the executor grants a budget.
    var maxThreads: Int { get }
    /// Makes the outputs: returned by name, or handed to `context.store` one by one as they are
    /// made (a stage with several large outputs then holds one at a time).
    func run(_ context: StageContext) throws -> [String: [UInt8]]
    /// What `context.progress` counts (calibration's batches by default), for progress displays.
    var progressUnit: String { get }
    /// Memory to ask a cluster scheduler for, in MiB, when the stage runs as a job (`--executor slurm`).
    var memoryMegabytes: Int { get }
}

extension Stage {
    public var progressUnit: String { "batch" }
    public var memoryMegabytes: Int { 1024 }
}

public struct StageID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func < (a: StageID, b: StageID) -> Bool { a.rawValue < b.rawValue }
}

/// Where a stage input comes from.
public enum StageInput: Hashable, Sendable {
    /// A file of the repository, hashed by content (through the stat cache).
    case file(String)
    /// An output of another stage.
    case output(StageID, String)
}

/// What a running stage sees: its inputs' bytes, a thread budget, a cancellation flag, and where
/// to report how long its phases took.
public struct StageContext: Sendable {
    public let stage: StageID
    /// Input name -> the path of a file holding its bytes (a repository file or a cache object).
    public let inputPaths: [String: String]
    /// Threads the stage may use; the executor never grants more than the build's `-j` in total.
    public let threadBudget: Int
    public let isCancelled: @Sendable () -> Bool
    public let phases: PhaseLog
    /// Reports units of work done of a total (a progress display; never part of an output).
    public let progress: @Sendable (_ done: Int, _ total: Int) -> Void
    /// Stores the output `name` now rather than returning it from `run`.
    public let store: @Sendable (_ name: String, _ bytes: [UInt8]) throws -> Void

    public init(stage: StageID, inputPaths: [String: String], threadBudget: Int, isCancelled: @escaping @Sendable () -> Bool,
                phases: PhaseLog = PhaseLog(), progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in },
                store: @escaping @Sendable (_ name: String, _ bytes: [UInt8]) throws -> Void) {
        self.stage = stage
        self.inputPaths = inputPaths
        self.threadBudget = threadBudget
        self.isCancelled = isCancelled
        self.phases = phases
        self.progress = progress
        self.store = store
    }
}

/// The outputs a running stage stored through `StageContext.store`, by name.
final class StoredOutputs: Sendable {
    private let digests = Locked<[String: ContentDigest]>([:])

    func add(_ name: String, _ digest: ContentDigest) { digests.withLock { $0[name] = digest } }
    var all: [String: ContentDigest] { digests.withLock { $0 } }
}

/// Where a stage's time went (parse, inference, statistics, write, ...), for `--profile` and the
/// build's JSON. Wall-clock seconds: reported, never hashed or written into an output.
public final class PhaseLog: Sendable {
    private let entries = Locked<[(String, Double)]>([])

    public init() {}

    /// Runs `body`, adding its duration to `phase`.
    public func time<T>(_ phase: String, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { add(phase, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        return try body()
    }

    public func add(_ phase: String, _ seconds: Double) {
        entries.withLock { e in
            if let i = e.firstIndex(where: { $0.0 == phase }) { e[i].1 += seconds } else { e.append((phase, seconds)) }
        }
    }

    /// Phases in the order they first ran, with their total seconds.
    public var recorded: [(phase: String, seconds: Double)] { entries.withLock { $0 } }
}

/// A stage failure the engine reports as one line naming the stage.
public struct StageFailure: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
