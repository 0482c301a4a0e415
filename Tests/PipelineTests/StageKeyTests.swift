import BuildCore
import FileIO
import Foundation
@testable import Pipeline
import XCTest

/// Each stage kind is its own type with its own version, and its key holds exactly the settings
/// its typed parameter struct holds.
final class StageKeyTests: XCTestCase {
    /// A stage with its version raised by one: what a semantics change of that kind does.
    struct Bumped: Stage {
        let stage: any Stage
        var id: StageID { stage.id }
        var kind: String { stage.kind }
        var version: Int { stage.version + 1 }
        var parameters: [String: ParameterValue] { stage.parameters }
        var inputs: [String: StageInput] { stage.inputs }
        var outputNames: [String] { stage.outputNames }
        var maxThreads: Int { stage.maxThreads }
        func run(_ context: StageContext) throws -> [String: [UInt8]] { try stage.run(context) }
    }

    private var repo = ""

    override func setUpWithError() throws {
        repo = try TestRepository.make("vaiq-keys", copying: [("examples/digits/models", "models"), ("examples/digits/data", "data")])
        try """
            models:
              digits: {graph: models/digits/inference_graph.pb, checkpoint: models/digits/train_dir,
                       input_nodes: [input], output_nodes: [logits], input_shapes: [[-1, 32, 32, 1]]}
            calibration:
              c: {inputs: {input: data/calib.npy}, batch_size: 20, calib_iter: 2}
            evaluation:
              e: {inputs: {input: data/eval_x.npy}, labels: data/eval_y.npy}
            builds:
              - {model: digits, calibration: c, evaluation: e, matrix: {strategy: [pof2s_tf1], target: [DPUCZDX8G]}}

            """.write(toFile: "\(repo)/manifests/m.yaml", atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: repo) }

    private func build(_ stages: [any Stage]) throws -> BuildReport {
        let engine = BuildEngine(plan: try BuildPlan(stages), cache: try BuildCache(root: "\(repo)/cache"),
                                 statCache: StatCache(path: "\(repo)/cache/stat"), root: repo)
        let report = engine.build(stages.map(\.id), options: BuildOptions(jobs: 2))
        XCTAssertTrue(report.succeeded, "\(report.outcomes)")
        return report
    }

    func testEveryKindHasItsOwnVersion() throws {
        let pipeline = try Pipeline(root: repo)
        let kinds = Dictionary(grouping: pipeline.stages, by: \.kind).mapValues { Set($0.map(\.version)) }
        XCTAssertEqual(kinds, ["freeze": [FreezeStage.version], "optimize": [OptimizeStage.version], "calibrate": [CalibrateStage.version],
                               "quantize": [QuantizeStage.version], "qat": [QATStage.version], "deploy": [DeployStage.version], "evaluate": [EvaluateStage.version]])
    }

    func testBumpingTheQuantizeVersionRerunsQuantizeAndNothingBeforeIt() throws {
        let stages = try Pipeline(root: repo).stages
        let first = try build(stages)
        XCTAssertEqual(first.ranCount, stages.count)
        let bumped = stages.map { $0.kind == QuantizeStage.kind ? Bumped(stage: $0) as any Stage : $0 }
        let second = try build(bumped)
        for stage in stages {
            switch stage.kind {
            case "freeze", "optimize", "calibrate":
                XCTAssertEqual(second.outcomes[stage.id], .cached, "\(stage.id)")
            case "quantize":
                XCTAssertEqual(second.outcomes[stage.id], .ran(reasons: ["stage version changed from \(QuantizeStage.version) to \(QuantizeStage.version + 1)"]))
            default:
                // What follows reads quantize's bytes: they are the same, so its keys are too (early cutoff).
                XCTAssertEqual(second.outcomes[stage.id], .cached, "\(stage.id)")
            }
        }
        // The same for the kind that follows it: deploy and evaluate rerun, quantize does not.
        let third = try build(stages.map { ["deploy", "evaluate"].contains($0.kind) ? Bumped(stage: $0) as any Stage : $0 })
        XCTAssertEqual(Set(third.outcomes.filter { if case .ran = $0.value { true } else { false } }.keys.map(\.rawValue)),
                       ["deploy/digits/pof2s_tf1/DPUCZDX8G", "evaluate/digits/pof2s_tf1/DPUCZDX8G"])
        XCTAssertEqual(third.outcomes[StageID("quantize/digits/pof2s_tf1/DPUCZDX8G")], .cached, "the unbumped quantize's first entry is still cached")
    }

    /// For every strategy field: changing it (to a value that acts) changes the parameters of
    /// exactly the stage kinds whose settings hold it; every other stage's key stays put.
    func testAFieldAStageDoesNotReadCannotChangeItsKey() throws {
        let pipeline = try Pipeline(root: repo)
        let job = try XCTUnwrap(pipeline.jobs["digits/pof2s_tf1/DPUCZDX8G"])
        func parameters(_ j: QuantizeJob) -> [String: [String: ParameterValue]] {
            Dictionary(uniqueKeysWithValues: j.chain.stages.map { ($0.kind, $0.parameters) })
        }
        let optimizeFields = ["simulate_dpu", "scale_all_avgpool", "fold_constant", "fold_bn", "do_cle", "replace_relu6", "replace_sigmoid",
                              "input_layers", "output_layers"]
        for c in StrategyFieldTests.acting {
            var base = QuantizeStrategy()
            if c.base == "fs" || c.base == "fsx" { base = try BuiltinSettings.strategy(c.base) }
            for (k, v) in c.baseOverrides { StrategyField.named(k)!.read(&base, v) }
            var variant = base
            StrategyField.named(c.field)!.read(&variant, c.value)
            var a = job, b = job
            a.strategy = base
            b.strategy = variant
            let pa = parameters(a), pb = parameters(b)
            XCTAssertEqual(pa["calibrate"], pb["calibrate"], "\(c.field) reached calibrate")
            XCTAssertEqual(pa["evaluate"].map { $0.filter { $0.key != "arch_type" } }, pb["evaluate"].map { $0.filter { $0.key != "arch_type" } },
                           "\(c.field) reached evaluate")
            if c.field != "quantize_scheme" {
                XCTAssertEqual(pa["deploy"], pb["deploy"], "\(c.field) reached deploy")
                XCTAssertEqual(pa["optimize"] != pb["optimize"], optimizeFields.contains(c.field), "\(c.field): optimize")
                // The finetuning fields reach quantize through finetune's graph (an input), not its key.
                let finetuneFields = ["include_fast_ft", "fast_ft_epochs", "include_bias_corr"]
                XCTAssertEqual(pa["quantize"] != pb["quantize"], !optimizeFields.contains(c.field) && !finetuneFields.contains(c.field),
                               "\(c.field): quantize")
                if finetuneFields.contains(c.field) { XCTAssertNotEqual(pa["finetune"], pb["finetune"], "\(c.field): finetune") }
                // The training graphs read what quantize reads, but for keep_float_weight.
                if !c.base.hasPrefix("fs") {
                    // The training graphs read quantize's positions (an input), and only the target's range.
                    XCTAssertEqual(pa["qat"], pb["qat"], "\(c.field): qat")
                } else {
                    XCTAssertNil(pa["qat"], "float scales have no training graphs")
                }
            }
        }
        // A target's fields reach quantize (arch_type) and nothing before it.
        var narrow = job
        narrow.target.archType = .dpucadf8h
        narrow.target.supportedOps = []
        let (pa, pb) = (parameters(job), parameters(narrow))
        XCTAssertEqual(pa["optimize"], pb["optimize"])
        XCTAssertEqual(pa["deploy"], pb["deploy"])
        XCTAssertNotEqual(pa["quantize"], pb["quantize"])
    }
}
