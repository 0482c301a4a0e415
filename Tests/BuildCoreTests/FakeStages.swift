import BuildCore
import FileIO
import Foundation
import Locking

/// A stage whose output is a deterministic function of its kind, parameters and input bytes,
/// counting its runs, so engine tests need no numerics.
struct FakeStage: Stage {
    let id: StageID
    let kind: String
    var version = 1
    var parameters: [String: ParameterValue] = [:]
    var inputs: [String: StageInput] = [:]
    var outputNames = ["out"]
    var maxThreads = 1
    /// Parameters listed here do not change the output bytes (to test early cutoff).
    var inertParameters: Set<String> = []
    var fail = false
    var sleep: Double = 0
    /// Outputs handed to `context.store` while running instead of being returned.
    var storedEarly: Set<String> = []
    let log: RunLog

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        log.started(id, threads: context.threadBudget)
        defer { log.finished(id, threads: context.threadBudget) }
        if sleep > 0 { Thread.sleep(forTimeInterval: sleep) }
        if fail { throw StageFailure("deliberate failure") }
        var text = "\(kind)|"
        for name in parameters.keys.sorted() where !inertParameters.contains(name) { text += "\(name)=\(parameters[name]!.canonical)|" }
        var bytes = Array(text.utf8)
        for name in context.inputPaths.keys.sorted() { bytes += try FileIO.read(context.inputPaths[name]!) }
        var outputs: [String: [UInt8]] = [:]
        for name in outputNames {
            if storedEarly.contains(name) { try context.store(name, Array("\(name):".utf8) + bytes) } else { outputs[name] = Array("\(name):".utf8) + bytes }
        }
        return outputs
    }
}

final class RunLog: Sendable {
    private let state = Locked<(runs: [StageID: Int], threadsInUse: Int, peakThreads: Int)>(([:], 0, 0))

    func started(_ id: StageID, threads: Int) {
        state.withLock {
            $0.runs[id, default: 0] += 1
            $0.threadsInUse += threads
            $0.peakThreads = max($0.peakThreads, $0.threadsInUse)
        }
    }

    func finished(_ id: StageID, threads: Int) { state.withLock { $0.threadsInUse -= threads } }

    var runs: [StageID: Int] { state.withLock { $0.runs } }
    var peakThreads: Int { state.withLock { $0.peakThreads } }
    func reset() { state.withLock { $0.runs = [:] } }
}

/// A scratch model repository with the shape of a real one: per model a graph and a checkpoint,
/// a calibration set, and a matrix of strategies x targets.
struct FakeRepository {
    let root: String
    let log = RunLog()
    var models = ["digits", "faces"]
    var strategies: [String: Int] = ["pof2s": 8, "w4a8": 4]   // name -> weight_bit
    var targets = ["DPUCZDX8G", "DPUCADF8H"]
    var calibBatch = 10
    var failing: Set<String> = []

    init(test: String) throws {
        root = NSTemporaryDirectory() + "vaiq-engine-\(test)-\(UUID().uuidString)"
        for model in ["digits", "faces"] {
            try FileIO.createDirectories("\(root)/models/\(model)")
            try write("models/\(model)/graph.pb", "graph of \(model)")
            try write("models/\(model)/model.ckpt-1.data", "weights of \(model) v1")
        }
        try write("data/calib.npy", "calibration inputs")
    }

    func write(_ path: String, _ text: String) throws {
        try FileIO.createDirectories(FileIO.directoryName("\(root)/\(path)"))
        try FileIO.writeAtomically(Array(text.utf8), to: "\(root)/\(path)")
    }

    func stages() -> [any Stage] {
        var out: [any Stage] = []
        for model in models {
            let freeze = StageID("freeze/\(model)")
            out.append(FakeStage(id: freeze, kind: "freeze", parameters: ["output_nodes": .list([.string("logits")])],
                                 inputs: ["graph": .file("models/\(model)/graph.pb"), "checkpoint": .file("models/\(model)/model.ckpt-1.data")],
                                 fail: failing.contains(freeze.rawValue), log: log))
            let calibrate = StageID("calibrate/\(model)")
            out.append(FakeStage(id: calibrate, kind: "calibrate", parameters: ["batch_size": .int(calibBatch)],
                                 inputs: ["graph": .output(freeze, "out"), "data": .file("data/calib.npy")],
                                 maxThreads: 4, fail: failing.contains(calibrate.rawValue), sleep: 0.02, log: log))
            for (strategy, bits) in strategies.sorted(by: { $0.key < $1.key }) {
                for target in targets {
                    let cell = "\(model)/\(strategy)/\(target)"
                    let quantize = StageID("quantize/\(cell)")
                    out.append(FakeStage(id: quantize, kind: "quantize",
                                         parameters: ["weight_bit": .int(bits), "target": .string(target)],
                                         inputs: ["graph": .output(freeze, "out"), "stats": .output(calibrate, "out")],
                                         outputNames: ["quantize_eval_model.pb", "quant_info.json"], maxThreads: 2,
                                         fail: failing.contains(quantize.rawValue), log: log))
                    out.append(FakeStage(id: StageID("deploy/\(cell)"), kind: "deploy", parameters: ["target": .string(target)],
                                         inputs: ["model": .output(quantize, "quantize_eval_model.pb")], outputNames: ["deploy_model.pb"], log: log))
                }
            }
        }
        return out
    }

    /// Runs a whole build of everything with a fresh engine (as a new process would).
    func build(jobs: Int = 2, keepGoing: Bool = false, dryRun: Bool = false, stages: [any Stage]? = nil) throws -> BuildReport {
        let cache = try BuildCache(root: "\(root)/cache")
        let stat = StatCache(path: "\(root)/cache/stat")
        let plan = try BuildPlan(stages ?? self.stages())
        let engine = BuildEngine(plan: plan, cache: cache, statCache: stat, root: root)
        let report = engine.build(plan.order, options: BuildOptions(jobs: jobs, keepGoing: keepGoing, dryRun: dryRun))
        try? stat.save()   // as a build session does: a stat cache that cannot be saved is rebuilt next time
        return report
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}
