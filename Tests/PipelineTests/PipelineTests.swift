import BuildCore
import FileIO
import Manifest
import TensorFlowIO
import Foundation
@testable import Pipeline
import XCTest

final class PipelineTests: XCTestCase {
    private var repo = ""

    /// This repository's DPUs run what any strategy asks (simulated), so one matrix spans the schemes.
    static let anySchemeDPUs = """
        targets:
          DPUCZDX8G: {extends: dpu-sim, accepts: &any {weight: {schemes: [pof2s, fs], bit_widths: [2-16]},
                      bias: {schemes: [pof2s, float], bit_widths: [2-32]}, activation: {schemes: [pof2s, fs], bit_widths: [2-16]}}}
          DPUCAHX8H: {extends: dpu-sim, accepts: *any}
          DPUCADF8H: {extends: dpu-sim, arch_type: DPUCADF8H, accepts: *any}
          DPUCVDX8G: {extends: dpu-sim, accepts: *any}
        """

    override func setUpWithError() throws {
        repo = try TestRepository.make("vaiq-pipeline", copying: [("Tests/Fixtures/sharded", "models/sharded")])
        try """
            models:
              sharded: {graph: models/sharded/inference_graph.pb, checkpoint: models/sharded/train_dir,
                        input_nodes: [input], output_nodes: [logits]}
            calibration:
              c: {inputs: {input: models/sharded/input.npy}}
            strategies:
              w4: {extends: pof2s_tf1, weight_bit: 4}
            \(Self.anySchemeDPUs)
            builds:
              - {model: sharded, calibration: c, matrix: {strategy: [pof2s_tf1, w4], target: [DPUCZDX8G]}}

            """.write(toFile: "\(repo)/manifests/m.yaml", atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: repo) }

    func testFreezeReadsTheGraphEveryShardAndOnlyItsOwnParameters() throws {
        let pipeline = try Pipeline(root: repo)
        let ids = pipeline.stages.map(\.id.rawValue)
        let opt = try XCTUnwrap(ids.first { $0.hasPrefix("optimize/") }).split(separator: "/").last!
        XCTAssertEqual(ids, ["calibrate/sharded/c/\(opt)", "deploy/sharded/pof2s_tf1/DPUCZDX8G", "deploy/sharded/w4/DPUCZDX8G", "freeze/sharded",
                             "optimize/sharded/\(opt)", "qat/sharded/pof2s_tf1/DPUCZDX8G", "qat/sharded/w4/DPUCZDX8G",
                             "quantize/sharded/pof2s_tf1/DPUCZDX8G", "quantize/sharded/w4/DPUCZDX8G"])
        let freeze = try XCTUnwrap(pipeline.stages.first { $0.kind == "freeze" })
        XCTAssertEqual(freeze.inputs, [
            "graph": .file("models/sharded/inference_graph.pb"),
            "checkpoint.index": .file("models/sharded/train_dir/model.ckpt-2.index"),
            "checkpoint.data-0": .file("models/sharded/train_dir/model.ckpt-2.data-00000-of-00002"),
            "checkpoint.data-1": .file("models/sharded/train_dir/model.ckpt-2.data-00001-of-00002"),
        ])
        // Bit widths, strategies and targets never reach freeze.
        XCTAssertEqual(Set(freeze.parameters.keys), ["output_nodes", "graph_format"])
        XCTAssertEqual(pipeline.manifest.cells.map(\.name), ["sharded/pof2s_tf1/DPUCZDX8G", "sharded/w4/DPUCZDX8G"])
        XCTAssertEqual(pipeline.targets.map(\.name), ["sharded", "sharded/pof2s_tf1/DPUCZDX8G", "sharded/w4/DPUCZDX8G"])
        // One optimize and one float calibration serve both strategies; weight_bit reaches only quantize.
        let byKind = Dictionary(grouping: pipeline.stages, by: \.kind)
        XCTAssertEqual(byKind["calibrate"]?.count, 1)
        XCTAssertEqual(Set(byKind["calibrate"]![0].parameters.keys), ["batch_size", "calib_iter", "bit_widths", "narrow_errors", "histograms"])
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
              w4: {extends: pof2s_tf1, weight_bit: 4}
            \(Self.anySchemeDPUs)
            builds:
              - {model: sharded, calibration: c,
                 matrix: {strategy: [pof2s_tf1, w4, fs], target: [DPUCZDX8G, DPUCAHX8H, DPUCADF8H, DPUCVDX8G]}}

            """.write(toFile: "\(repo)/manifests/m.yaml", atomically: true, encoding: .utf8)
        let pipeline = try Pipeline(root: repo)
        func count(_ kind: String) -> Int { pipeline.stages.filter { $0.kind == kind }.count }
        // pof2s_tf1 and w4 optimize identically; fs keeps BN and skips DPU simulation.
        XCTAssertEqual(count("optimize"), 2)
        XCTAssertEqual(count("calibrate"), 2)
        XCTAssertEqual(count("quantize"), 12)
        XCTAssertEqual(count("deploy"), 8)   // fs targets CPUs/GPUs: no DPU deploy model
        XCTAssertNil(pipeline.stages.first { $0.id == StageID("deploy/sharded/fs/DPUCZDX8G") })
        let quantize = try XCTUnwrap(pipeline.stages.first { $0.id == StageID("quantize/sharded/w4/DPUCADF8H") })
        XCTAssertEqual(quantize.parameters["weight_bit"], .int(4))
        XCTAssertEqual(quantize.parameters["arch_type"], .string("DPUCADF8H"))
        XCTAssertNil(quantize.parameters["deploy_format"])
        XCTAssertNil(quantize.parameters["calib_method"], "a power-of-two quantize does not read calib_method")
        let fs = try XCTUnwrap(pipeline.stages.first { $0.id == StageID("quantize/sharded/fs/DPUCADF8H") })
        XCTAssertNil(fs.parameters["arch_type"], "float scales do not read the target's activation range")
        XCTAssertNil(fs.parameters["align_concat"])
        for stage in pipeline.stages where !["quantize", "qat"].contains(stage.kind) {
            XCTAssertNil(stage.parameters["weight_bit"], "\(stage.id) must not read weight_bit")
        }
        // Checkpoint-built models get the step in their output names (this state file records no time).
        let outputs = try XCTUnwrap(pipeline.targets.first { $0.name == "sharded/w4/DPUCADF8H" }).outputs
        XCTAssertEqual(outputs.first { $0.output == "quantize_eval_model.pb" }?.path, "build/sharded/w4/DPUCADF8H/quantize_eval_model_2.pb")
        XCTAssertEqual(outputs.first { $0.output == "deploy_model.pb" }?.path, "build/sharded/w4/DPUCADF8H/deploy_model_2.pb")
        let calibrate = try XCTUnwrap(pipeline.stages.first { $0.kind == "calibrate" })
        XCTAssertEqual(Set(calibrate.parameters.keys), ["batch_size", "calib_iter", "bit_widths", "narrow_errors", "histograms"])
        // One calibration serves pof2s_tf1 and w4 (weights only): 8-bit activation errors, no histograms;
        // fs's keeps histograms for its kl ranges and no errors.
        XCTAssertEqual(Set(pipeline.stages.filter { $0.kind == "calibrate" }.map { [$0.parameters["bit_widths"]!, $0.parameters["histograms"]!] }),
                       [[.list([.int(8)]), .bool(false)], [.list([]), .bool(true)]])
        // The power-of-two calibration keeps narrow-range errors only when a DPUCADF8H cell shares it.
        let pof2 = try XCTUnwrap(pipeline.stages.first { $0.kind == "calibrate" && $0.parameters["bit_widths"] == .list([.int(8)]) })
        XCTAssertEqual(pof2.parameters["narrow_errors"], .bool(pipeline.jobs.values.contains { $0.target.narrowActivations && !$0.strategy.scheme.isFloatScale }))
    }

    func testTargetGlobs() throws {
        let pipeline = try Pipeline(root: repo)
        XCTAssertThrowsError(try pipeline.targets(matching: ["x*"])) {
            XCTAssertEqual("\($0)", "no target matches 'x*'; targets: sharded, sharded/pof2s_tf1/DPUCZDX8G, sharded/w4/DPUCZDX8G")
        }
        XCTAssertEqual(try pipeline.targets(matching: ["*/w4/*"]).map(\.name), ["sharded/w4/DPUCZDX8G"])
        XCTAssertEqual(try pipeline.targets(matching: ["sh?rded/[pw]*/DPUCZDX8G"]).map(\.name), ["sharded/pof2s_tf1/DPUCZDX8G", "sharded/w4/DPUCZDX8G"])
        XCTAssertEqual(try pipeline.targets(matching: ["sharded"]).map(\.name), ["sharded"])
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
