import BuildCore
import FileIO
import Manifest
import TensorFlowIO
import Foundation
@testable import Pipeline
import XCTest

final class PipelineTests: XCTestCase {
    private var repo = ""

    override func setUpWithError() throws {
        var fixtures = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { fixtures.deleteLastPathComponent() }
        repo = NSTemporaryDirectory() + "vaiq-pipeline-\(UUID().uuidString)"
        try FileIO.createDirectories("\(repo)/manifests")
        try FileIO.createDirectories("\(repo)/models")
        try FileManager.default.copyItem(atPath: fixtures.path + "/Tests/Fixtures/sharded", toPath: "\(repo)/models/sharded")
        try """
            models:
              sharded: {graph: models/sharded/inference_graph.pb, checkpoint: models/sharded/train_dir,
                        input_nodes: [input], output_nodes: [logits]}
            calibration:
              c: {inputs: {input: models/sharded/input.npy}}
            strategies:
              w4: {extends: pof2s, weight_bit: 4}
            builds:
              - {model: sharded, calibration: c, matrix: {strategy: [pof2s, w4], target: [DPUCZDX8G]}}

            """.write(toFile: "\(repo)/manifests/m.yaml", atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: repo) }

    func testFreezeReadsTheGraphEveryShardAndOnlyItsOwnParameters() throws {
        let pipeline = try Pipeline(root: repo)
        XCTAssertEqual(pipeline.stages.map(\.id.rawValue), ["freeze/sharded", "calibrate/sharded/c/a561b688", "deploy/sharded/pof2s/DPUCZDX8G",
                                                          "deploy/sharded/w4/DPUCZDX8G", "optimize/sharded/a561b688",
                                                          "quantize/sharded/pof2s/DPUCZDX8G", "quantize/sharded/w4/DPUCZDX8G"])
        let freeze = pipeline.stages[0]
        XCTAssertEqual(freeze.inputs, [
            "graph": .file("models/sharded/inference_graph.pb"),
            "checkpoint.index": .file("models/sharded/train_dir/model.ckpt-2.index"),
            "checkpoint.data-0": .file("models/sharded/train_dir/model.ckpt-2.data-00000-of-00002"),
            "checkpoint.data-1": .file("models/sharded/train_dir/model.ckpt-2.data-00001-of-00002"),
        ])
        // Bit widths, strategies and targets never reach freeze.
        XCTAssertEqual(Set(freeze.parameters.keys), ["output_nodes", "graph_format"])
        XCTAssertEqual(pipeline.manifest.cells.map(\.name), ["sharded/pof2s/DPUCZDX8G", "sharded/w4/DPUCZDX8G"])
        XCTAssertEqual(pipeline.targets.map(\.name), ["sharded", "sharded/pof2s/DPUCZDX8G", "sharded/w4/DPUCZDX8G"])
        // One optimize and one float calibration serve both strategies; weight_bit reaches only quantize.
        let byKind = Dictionary(grouping: pipeline.stages, by: \.kind)
        XCTAssertEqual(byKind["calibrate"]?.count, 1)
        XCTAssertEqual(Set(byKind["calibrate"]![0].parameters.keys), ["batch_size", "calib_iter"])
        XCTAssertFalse(byKind["optimize"]![0].parameters.keys.contains("weight_bit"))
        XCTAssertEqual(byKind["quantize"]?.map { $0.parameters["weight_bit"] }, [.int(8), .int(4)])
    }

    func testFreezeStageRunsThroughTheEngine() throws {
        let pipeline = try Pipeline(root: repo)
        let cache = try BuildCache(root: "\(repo)/cache")
        let engine = BuildEngine(plan: try BuildPlan(pipeline.stages), cache: cache,
                                 statCache: StatCache(path: "\(repo)/cache/stat"), root: repo)
        let report = engine.build([StageID("freeze/sharded")], options: BuildOptions(jobs: 2))
        XCTAssertTrue(report.succeeded, "\(report.outcomes)")
        let digest = try XCTUnwrap(report.outputs[StageID("freeze/sharded")]?["frozen_graph.pb"])
        XCTAssertGreaterThan(try cache.load(digest).count, 1000)
    }

    func testUnreadableCheckpointNamesTheManifestEntry() throws {
        try FileManager.default.removeItem(atPath: "\(repo)/models/sharded/train_dir/model.ckpt-2.index")
        XCTAssertThrowsError(try Pipeline(root: repo)) { error in
            XCTAssertEqual("\(error)", "manifests/m.yaml:2:3: model 'sharded': \(repo)/models/sharded/train_dir/checkpoint: names checkpoint 'model.ckpt-2' but \(repo)/models/sharded/train_dir/model.ckpt-2.index does not exist")
        }
    }

    func testMatrixSharesOptimizeAndCalibrationAcrossBitWidthsAndTargets() throws {
        try """
            models:
              sharded: {graph: models/sharded/inference_graph.pb, checkpoint: models/sharded/train_dir,
                        input_nodes: [input], output_nodes: [logits]}
            calibration:
              c: {inputs: {input: models/sharded/input.npy}, batch_size: 2, calib_iter: 1}
            strategies:
              w4: {extends: pof2s, weight_bit: 4}
            builds:
              - {model: sharded, calibration: c,
                 matrix: {strategy: [pof2s, w4, fs], target: [DPUCZDX8G, DPUCAHX8H, DPUCADF8H, DPUCVDX8G]}}

            """.write(toFile: "\(repo)/manifests/m.yaml", atomically: true, encoding: .utf8)
        let declarations = try Pipeline(root: repo).cellDeclarations
        func count(_ kind: String) -> Int { declarations.filter { $0.kind == kind }.count }
        // pof2s and w4 optimize identically; fs keeps BN and skips DPU simulation.
        XCTAssertEqual(count("optimize"), 2)
        XCTAssertEqual(count("calibrate"), 2)
        XCTAssertEqual(count("quantize"), 12)
        XCTAssertEqual(count("deploy"), 8)   // fs targets CPUs/GPUs: no DPU deploy model
        XCTAssertNil(declarations.first { $0.id == StageID("deploy/sharded/fs/DPUCZDX8G") })
        let quantize = try XCTUnwrap(declarations.first { $0.id == StageID("quantize/sharded/w4/DPUCADF8H") })
        XCTAssertEqual(quantize.parameters["weight_bit"], .int(4))
        XCTAssertEqual(quantize.parameters["arch_type"], .string("DPUCADF8H"))
        XCTAssertNil(quantize.parameters["deploy_format"])
        for d in declarations where d.kind != "quantize" {
            XCTAssertNil(d.parameters["weight_bit"], "\(d.id) must not read weight_bit")
        }
        // Checkpoint-built models get the step in their output names (this state file records no time).
        XCTAssertEqual(quantize.materialize["quantize_eval_model.pb"], "build/sharded/w4/DPUCADF8H/quantize_eval_model_2.pb")
        let deploy = try XCTUnwrap(declarations.first { $0.id == StageID("deploy/sharded/w4/DPUCADF8H") })
        XCTAssertEqual(deploy.materialize, ["deploy_model.pb": "build/sharded/w4/DPUCADF8H/deploy_model_2.pb"])
        let calibrate = try XCTUnwrap(declarations.first { $0.kind == "calibrate" })
        XCTAssertEqual(Set(calibrate.parameters.keys), ["batch_size", "calib_iter"])
    }

    func testGlobs() throws {
        XCTAssertTrue(glob("digits/*/DPUCZDX8G", matches: "digits/w4a8/DPUCZDX8G"))
        XCTAssertTrue(glob("d?gits*", matches: "digits"))
        XCTAssertFalse(glob("digits", matches: "digits2"))
        XCTAssertTrue(glob("*", matches: ""))
        let pipeline = try Pipeline(root: repo)
        XCTAssertThrowsError(try pipeline.targets(matching: ["x*"])) {
            XCTAssertEqual("\($0)", "no target matches 'x*'; targets: sharded, sharded/pof2s/DPUCZDX8G, sharded/w4/DPUCZDX8G")
        }
        XCTAssertEqual(try pipeline.targets(matching: ["*/w4/*"]).map(\.name), ["sharded/w4/DPUCZDX8G"])
    }
}

final class StagePlannerTests: XCTestCase {
    func testEveryStrategyAndTargetFieldIsReadBySomeStage() {
        let read = StagePlanner.optimizeFields.union(StagePlanner.calibrateFields).union(StagePlanner.quantizeFields)
        let strategyFields = Set(ManifestFieldNames.strategy).subtracting(["description"])
        XCTAssertEqual(strategyFields.subtracting(read), Set<String>(), "strategy fields no stage reads")
        XCTAssertTrue(StagePlanner.optimizeFields.isDisjoint(with: StagePlanner.quantizeFields))
        XCTAssertFalse(StagePlanner.optimizeFields.contains("weight_bit"))
        XCTAssertTrue(StagePlanner.calibrateFields.isEmpty, "bit widths and methods never reach float calibration")
    }
}

final class OutputNamesTests: XCTestCase {
    func testSuffixIsStepAndRecordedSaveTime() throws {
        let dir = NSTemporaryDirectory() + "vaiq-names-\(UUID().uuidString)"
        try FileIO.createDirectories(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileIO.writeAtomically([0], to: "\(dir)/model.ckpt-2000.index")
        try FileIO.writeAtomically([0], to: "\(dir)/model.ckpt-3000.index")
        try """
            model_checkpoint_path: "model.ckpt-2000"
            all_model_checkpoint_paths: "model.ckpt-2000"
            all_model_checkpoint_timestamps: 1591833600.75
            """.write(toFile: "\(dir)/checkpoint", atomically: true, encoding: .utf8)
        let located = try CheckpointLocation.resolve(dir)
        XCTAssertEqual(OutputNames.suffix(for: located), "2000_20200611000000")
        XCTAssertEqual(OutputNames.quantizeEvalModel(suffix: OutputNames.suffix(for: located)), "quantize_eval_model_2000_20200611000000.pb")
        XCTAssertEqual(OutputNames.deployModel(suffix: nil), "deploy_model.pb")
        // A prefix (no state file) or a V1 state file without times: the step alone.
        XCTAssertEqual(OutputNames.suffix(for: try CheckpointLocation.resolve("\(dir)/model.ckpt-3000")), "3000")
    }
}
