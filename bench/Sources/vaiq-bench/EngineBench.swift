import BuildCore
import Foundation

/// A CPU-bound stage: a fixed amount of floating-point work whose result depends on its
/// parameters (so every cell has its own key and its own output).
struct BusyStage: Stage {
    let id: StageID
    let kind = "busy"
    let version = 1
    let parameters: [String: ParameterValue]
    let inputs: [String: StageInput] = [:]
    let outputNames = ["out"]
    let maxThreads = 1
    let iterations: Int

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        var x = Double(parameters.count) + 0.5
        var seed = 0.0
        if case .int(let i)? = parameters["cell"] { seed = Double(i) }
        for _ in 0..<iterations { x = x * 0.999_999 + seed * 1e-9 + 1e-7 / (x + 1) }
        return ["out": Array("\(x)".utf8)]
    }
}

/// Wall time of building `cells` busy stages with `jobs` threads into a fresh cache.
func engineBenchmark(cells: Int, iterations: Int, jobs: Int) throws -> Double {
    let root = NSTemporaryDirectory() + "vaiq-engine-bench-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: root) }
    let cache = try BuildCache(root: root)
    let stages: [any Stage] = (0..<cells).map {
        BusyStage(id: StageID("busy/\($0)"), parameters: ["cell": .int($0)], iterations: iterations)
    }
    let plan = try BuildPlan(stages)
    let engine = BuildEngine(plan: plan, cache: cache, statCache: StatCache(path: "\(root)/stat"), root: root)
    let start = DispatchTime.now().uptimeNanoseconds
    let report = engine.build(plan.order, options: BuildOptions(jobs: jobs))
    guard report.ranCount == cells else { throw StageFailure("expected \(cells) stages to run, \(report.ranCount) did") }
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}
