import Foundation
import XCTest

/// `vaiq-build all` and friends on a scratch repository made from the allops fixture.
final class BuildCLITests: XCTestCase {
    private var repo = ""

    override func setUpWithError() throws {
        repo = NSTemporaryDirectory() + "vaiq-repo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: "\(repo)/manifests", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(repo)/models", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(CLITests.repo)/Tests/Fixtures/allops", toPath: "\(repo)/models/allops")
        try manifest(output: "logits")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: repo) }

    private func manifest(output: String, w4Bits: Int = 4) throws {
        try """
            models:
              allops:
                graph: models/allops/inference_graph.pb
                checkpoint: models/allops/train_dir
                input_nodes: [input]
                output_nodes: [\(output)]
            calibration:
              calib: {inputs: {input: models/allops/input.npy}, batch_size: 2, calib_iter: 1}
            strategies:
              w4a8: {extends: pof2s_tf1, weight_bit: \(w4Bits)}
            builds:
              - model: allops
                calibration: calib
                matrix: {strategy: [pof2s_tf1, w4a8], target: [DPUCZDX8G, DPUCADF8H]}

            """.write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
    }

    private func vaiq(_ args: String...) throws -> CLITests.Run { try CLITests.run(args + ["-C", repo]) }

    func testBuildThenNoOpThenCheckpointSwitch() throws {
        let first = try CLITests.run(["all", "-C", repo, "-j2"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.hasPrefix("[1/15] ran freeze/allops ("), first.stdout)
        for stage in ["optimize/allops/", "calibrate/allops/calib/", "quantize/allops/pof2s_tf1/DPUCZDX8G", "quantize/allops/w4a8/DPUCADF8H"] {
            XCTAssertTrue(first.stdout.contains("ran \(stage)"), first.stdout)
        }
        // The summary names at most 5 of the 29 updated paths; --verbose and --json list them all.
        let summary = try XCTUnwrap(first.stdout.split(separator: "\n").last.map(String.init))
        // Two stages whose keys turn out equal (deploy of two targets' identical models) run twice
        // when -j2 starts them together, else once: count them together.
        let counts = summary.split(separator: ";")[0].split(separator: " ").compactMap { Int($0) }
        XCTAssertEqual(counts.reduce(0, +), 15, summary)
        XCTAssertTrue(summary.contains(" cached; updated 29 files: build/allops/frozen_graph.pb, "), summary)
        XCTAssertTrue(summary.contains(", ... (--verbose lists all) ("), summary)
        XCTAssertEqual(summary.components(separatedBy: "build/").count - 1, 5, summary)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(repo)/build/allops/frozen_graph.pb"))
        for file in ["quantize_eval_model_2.pb", "quantize_eval_model_tf_2.pb", "quant_info.json", "deploy_model_2.pb", "quantize_train_graph.pb"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(repo)/build/allops/w4a8/DPUCADF8H/\(file)"), file)
        }

        let noop = try CLITests.run(["all", "-C", repo])
        XCTAssertEqual(noop.status, 0)
        XCTAssertTrue(noop.stdout.hasPrefix("vaiq-build: nothing to do (15 stages up to date, "), noop.stdout)

        // The same bytes rewritten: nothing reruns.
        let index = "\(repo)/models/allops/train_dir/model.ckpt-2.index"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: index))
        try FileManager.default.removeItem(atPath: index)
        try bytes.write(to: URL(fileURLWithPath: index))
        XCTAssertTrue(try CLITests.run(["all", "-C", repo]).stdout.hasPrefix("vaiq-build: nothing to do"))

        // Point the training directory at the older checkpoint: freeze reruns and says why.
        let state = "\(repo)/models/allops/train_dir/checkpoint"
        try String(contentsOfFile: state, encoding: .utf8).replacingOccurrences(of: "model_checkpoint_path: \"model.ckpt-2\"",
                                                                                  with: "model_checkpoint_path: \"model.ckpt-1\"")
            .write(toFile: state, atomically: true, encoding: .utf8)
        let why = try vaiq("why", "allops")
        XCTAssertEqual(why.stdout, """
            allops:
              freeze/allops: input checkpoint.data-0 changed (models/allops/train_dir/model.ckpt-1.data-00000-of-00001)
              freeze/allops: input checkpoint.index changed (models/allops/train_dir/model.ckpt-1.index)

            """)
        let dry = try vaiq("-n")
        XCTAssertTrue(dry.stdout.contains("would run freeze/allops"), dry.stdout)
        XCTAssertTrue(dry.stdout.hasSuffix("vaiq-build: dry run: 15 of 15 stages would run\n"), dry.stdout)
        let rebuilt = try vaiq("--json")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(rebuilt.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((json["ran"] as? Int ?? 0) + (json["cached"] as? Int ?? 0), 15)
        XCTAssertEqual(json["ok"] as? Bool, true)
        XCTAssertEqual(try vaiq("status").stdout, """
              target                      state
              allops                      up to date
              allops/pof2s_tf1/DPUCADF8H  up to date
              allops/pof2s_tf1/DPUCZDX8G  up to date
              allops/w4a8/DPUCADF8H       up to date
              allops/w4a8/DPUCZDX8G       up to date

            """)
    }

    func testWeightBitChangeRerunsOnlyThatStrategysQuantizeStages() throws {
        XCTAssertEqual(try vaiq("all", "-j2").status, 0)
        try manifest(output: "logits", w4Bits: 3)
        let r = try vaiq("all", "--explain", "-j1")
        XCTAssertEqual(r.status, 0, r.stderr)
        // Its 2 quantize stages, and after them the 2 qat stages (their positions input changed) and a
        // deploy stage: the deploy stage reads no target setting, and the two targets' quantized
        // models are the same bytes here, so one deploy serves both.
        XCTAssertTrue(r.stdout.contains("vaiq-build: 5 ran, 10 cached;"), r.stdout)
        XCTAssertEqual(r.stdout.components(separatedBy: "  explain: parameter weight_bit changed from 4 to 3\n").count - 1, 2, r.stdout)
        XCTAssertEqual(r.stdout.components(separatedBy: "  explain: input positions changed").count - 1, 2, r.stdout)
        XCTAssertFalse(r.stdout.contains("ran calibrate/") || r.stdout.contains("ran freeze/") || r.stdout.contains("ran optimize/"), r.stdout)
    }

    func testParameterChangeIsExplained() throws {
        XCTAssertEqual(try vaiq("all").status, 0)
        try manifest(output: "probs")
        let r = try vaiq("all", "--explain")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("  explain: parameter output_nodes changed from [\"logits\"] to [\"probs\"]\n"), r.stdout)
    }

    func testManifestErrorsExitOneWithLocation() throws {
        try "models:\n  allops:\n    graph: models/allops/inference_graph.pb\n    checkpont: models/allops/train_dir\n"
            .write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        let r = try vaiq("all")
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "error: manifests/repo.yaml:4:5: unknown key 'checkpont' in model 'allops'; did you mean 'checkpoint'?\n")
    }

    func testUnknownTargetAndBadJobs() throws {
        let r = try vaiq("nope*")
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "error: no target matches 'nope*'; targets: allops, allops/pof2s_tf1/DPUCADF8H, allops/pof2s_tf1/DPUCZDX8G, "
                       + "allops/w4a8/DPUCADF8H, allops/w4a8/DPUCZDX8G\n")
        XCTAssertEqual(try vaiq("all", "-j0").status, 2)
    }

    func testWatchRebuildsWhenANewCheckpointIsNamed() throws {
        let log = "\(repo)/watch.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: CLITests.binary)
        watch.arguments = ["watch", "-C", repo, "--interval", "0.2", "--max-builds", "2"]
        watch.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try watch.run()
        func waitFor(_ text: String, count: Int) -> Bool {
            for _ in 0..<300 {
                let content = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                if content.components(separatedBy: text).count - 1 >= count { return true }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return false
        }
        XCTAssertTrue(waitFor("vaiq-build: watching for changes", count: 1), "first build")
        // Training saves a new checkpoint: the state file now names step 1.
        let state = "\(repo)/models/allops/train_dir/checkpoint"
        try String(contentsOfFile: state, encoding: .utf8).replacingOccurrences(of: "model_checkpoint_path: \"model.ckpt-2\"",
                                                                                  with: "model_checkpoint_path: \"model.ckpt-1\"")
            .write(toFile: state, atomically: true, encoding: .utf8)
        XCTAssertTrue(waitFor("vaiq-build: watching for changes", count: 2), "second build")
        watch.waitUntilExit()
        XCTAssertEqual(watch.terminationStatus, 0)
        let output = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertEqual(output.components(separatedBy: "ran freeze/allops").count - 1, 2, output)
        XCTAssertTrue(output.contains("explain: input checkpoint.index changed (models/allops/train_dir/model.ckpt-1.index)"), output)
    }

    func testTargetsListsMatrixCellsAndGraphIsDot() throws {
        let t = try vaiq("targets")
        XCTAssertTrue(t.stdout.contains("allops/w4a8/DPUCADF8H       build/allops/w4a8/DPUCADF8H/quantize_eval_model_2.pb, "), t.stdout)
        XCTAssertTrue(t.stdout.contains("allops/pof2s_tf1/DPUCZDX8G"), t.stdout)
        let g = try vaiq("graph", "--dot")
        XCTAssertTrue(g.stdout.hasPrefix("digraph vaiq_build {"), g.stdout)
        XCTAssertTrue(g.stdout.contains("\"file:models/allops/inference_graph.pb\" -> \"freeze/allops\" [label=\"graph\"];"), g.stdout)
    }
}
