import Foundation
import Tensors
import XCTest

/// `vaiq-build all` and friends on a scratch repository made from the allops fixture.
final class BuildCLITests: XCTestCase {
    private var repo = ""

    override func setUpWithError() throws {
        repo = NSTemporaryDirectory() + "vaiq-repo-\(UUID().uuidString)"
        _ = try allopsRepository(repo)
        try manifest(output: "logits")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: repo) }

    private func manifest(output: String, w4Bits: Int = 4) throws {
        try (allopsModel(output: output) + """
            strategies:
              w4a8: {extends: pof2s_tf1, weight_bit: \(w4Bits)}
            \(Self.simulatedDPUs)
            builds:
              - model: allops
                calibration: calib
                matrix: {strategy: [pof2s_tf1, w4a8], target: [DPUCZDX8G, DPUCADF8H]}

            """).write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
    }

    private func vaiq(_ args: String...) throws -> CLITests.Run { try CLITests.run(args + ["-C", repo]) }

    /// The test repositories' DPUs run any bit width (the DPU's arithmetic, simulated), so their
    /// 4-bit cells build under the DPUs' names.
    static let simulatedDPUs = """
        targets:
          DPUCZDX8G: {extends: dpu-sim}
          DPUCADF8H: {extends: dpu-sim, arch_type: DPUCADF8H}
        """

    /// stdout and stderr on a full disk (/dev/full): the messages are lost, the outcome is not —
    /// a build still succeeds and a failure still exits 1, neither as a trap.
    func testAFullTerminalIsNotATrap() throws {
        func runToFull(_ args: [String]) throws -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLITests.binary)
            p.arguments = args + ["-C", repo]
            let full = try XCTUnwrap(FileHandle(forWritingAtPath: "/dev/full"))
            p.standardOutput = full
            p.standardError = full
            try p.run()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationReason, .exit, "\(args)")
            return p.terminationStatus
        }
        XCTAssertEqual(try runToFull(["allops/pof2s_tf1/DPUCZDX8G"]), 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(repo)/build/allops/pof2s_tf1/DPUCZDX8G/quant_info.json"))
        XCTAssertEqual(try runToFull(["all", "no-such-target"]), 1)
        XCTAssertEqual(try runToFull(["status"]), 0)
    }

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

    /// The write fence: a manifest name cannot be a path, a link under build/ cannot lead out of
    /// the repository, and `clean --cache` removes only a cache.
    func testPathLikeNamesAreRefusedAtLoad() throws {
        let original = try String(contentsOfFile: "\(repo)/manifests/repo.yaml", encoding: .utf8)
        for (from, to, column) in [("w4a8: {", "../../../../escaped: {", 3), ("  allops:\n    graph", "  \"a/b\":\n    graph", 3),
                                   ("  calib: {", "  \"..\": {", 3), ("  calib: {", "  \"c\\x01d\": {", 3)] {
            try original.replacingOccurrences(of: from, with: to).write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
            let r = try vaiq("all", "-n")
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("error: manifests/repo.yaml:") && r.stderr.contains(":\(column): ")
                          && (r.stderr.contains("contains '/'") || r.stderr.contains("is not a file name") || r.stderr.contains("a control character")),
                          r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(repo)/../../../escaped"))
    }

    func testALinkUnderBuildLeavingTheRepositoryIsRefused() throws {
        let outside = NSTemporaryDirectory() + "vaiq-outside-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.createDirectory(atPath: "\(repo)/build", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(repo)/build/allops", withDestinationPath: outside)
        let r = try vaiq("all")
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("error: ") && r.stderr.contains("build/allops: a symbolic link to \(outside)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("outside the repository"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside), [])
        // A link inside the repository is followed.
        try FileManager.default.removeItem(atPath: "\(repo)/build/allops")
        try FileManager.default.createDirectory(atPath: "\(repo)/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(repo)/build/allops", withDestinationPath: "\(repo)/elsewhere")
        XCTAssertEqual(try vaiq("all").status, 0)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: "\(repo)/elsewhere").isEmpty)
    }

    func testCleanCacheRemovesOnlyACache() throws {
        let folder = NSTemporaryDirectory() + "vaiq-notacache-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "precious".write(toFile: "\(folder)/data.txt", atomically: true, encoding: .utf8)
        let r = try vaiq("clean", "--cache", "--cache-dir", folder)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stderr, "error: \(folder) is not a vaiq-build cache (no FORMAT file reading 'vaiq-build cache 1'); not removing it\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(folder)/data.txt"))
        XCTAssertEqual(try vaiq("all", "--cache-dir", "\(folder)/cache").status, 0)
        XCTAssertEqual(try vaiq("clean", "--cache", "--cache-dir", "\(folder)/cache").status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(folder)/cache"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(folder)/data.txt"))
    }

    /// Every cache object damaged (one replaced by text that is not JSON), build/ removed: the
    /// next build moves each damaged object it reads to quarantine, makes it again and writes
    /// outputs byte-identical to the clean build's, counting the repairs. `cache verify` finds the
    /// same damage without --repair (exit 1) and repairs it with.
    func testDamagedCacheObjectsAreRepairedAndOutputsMatchACleanBuild() throws {
        XCTAssertEqual(try vaiq("all").status, 0)
        func outputs() throws -> [String: Data] {
            var out: [String: Data] = [:]
            let root = "\(repo)/build"
            for case let file as String in FileManager.default.enumerator(atPath: root)! where !file.hasPrefix("report") && !file.hasPrefix(".") {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: "\(root)/\(file)", isDirectory: &isDir), !isDir.boolValue {
                    out[file] = FileManager.default.contents(atPath: "\(root)/\(file)")
                }
            }
            return out
        }
        let clean = try outputs()
        XCTAssertGreaterThan(clean.count, 10)
        func damageEveryObject() throws -> Int {
            var objects: [String] = []
            let dir = "\(repo)/cache/objects"
            for shard in try FileManager.default.contentsOfDirectory(atPath: dir) {
                for name in try FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(shard)") where !name.hasPrefix(".") {
                    objects.append("\(dir)/\(shard)/\(name)")
                }
            }
            for (k, path) in objects.sorted().enumerated() {
                var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
                if k == 0 { bytes = Array("{ this is not JSON".utf8) } else if !bytes.isEmpty { bytes[bytes.count / 2] ^= 0x20 } else { bytes = [0] }
                try Data(bytes).write(to: URL(fileURLWithPath: path))
            }
            return objects.count
        }
        let count = try damageEveryObject()
        let verify = try vaiq("cache", "verify")
        XCTAssertEqual(verify.status, 1, verify.stdout + verify.stderr)
        XCTAssertTrue(verify.stdout.contains("\(count) objects ("), verify.stdout)
        XCTAssertTrue(verify.stdout.contains(": \(count) damaged objects, 0 damaged records"), verify.stdout)
        try FileManager.default.removeItem(atPath: "\(repo)/build")
        let rebuilt = try vaiq("all")
        XCTAssertEqual(rebuilt.status, 0, rebuilt.stderr)
        XCTAssertTrue(rebuilt.stderr.contains("warning: ") && rebuilt.stderr.contains("moved it to"), rebuilt.stderr)
        XCTAssertTrue(rebuilt.stdout.contains("damaged cache objects made again"), rebuilt.stdout)
        XCTAssertEqual(try outputs(), clean)
        let noop = try vaiq("all")
        XCTAssertTrue(noop.stdout.hasPrefix("vaiq-build: nothing to do"), "a no-op after the repairs: " + noop.stdout)
        // cache verify --repair, then a build: the same bytes again.
        _ = try damageEveryObject()
        let repair = try vaiq("cache", "verify", "--repair")
        XCTAssertEqual(repair.status, 0, repair.stdout + repair.stderr)
        XCTAssertTrue(repair.stdout.contains("repaired"), repair.stdout)
        try FileManager.default.removeItem(atPath: "\(repo)/build")
        XCTAssertEqual(try vaiq("all").status, 0)
        XCTAssertEqual(try outputs(), clean)
        // A garbled action record is a miss, not an error.
        let actions = "\(repo)/cache/actions"
        for shard in try FileManager.default.contentsOfDirectory(atPath: actions) {
            for name in try FileManager.default.contentsOfDirectory(atPath: "\(actions)/\(shard)") where !name.hasPrefix(".") {
                let path = "\(actions)/\(shard)/\(name)"
                var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
                bytes[bytes.count / 3] ^= 0x01
                try Data(bytes).write(to: URL(fileURLWithPath: path))
            }
        }
        try FileManager.default.removeItem(atPath: "\(repo)/build")
        XCTAssertEqual(try vaiq("all").status, 0)
        XCTAssertEqual(try outputs(), clean)
    }

    /// A cell whose later stage fails keeps every output of its previous build: none of the new
    /// quantize outputs are placed beside the old evaluation.
    func testACellFailingPartWayKeepsItsPreviousOutputs() throws {
        let input = try NPY.decode([UInt8](FileManager.default.contents(atPath: "\(repo)/models/allops/input.npy")!), name: "input.npy")
        let rows = input.shape[0]
        func labels(_ count: Int) throws {
            try Data(NPY.encode(Tensor([Int64](repeating: 0, count: count), shape: [count])))
                .write(to: URL(fileURLWithPath: "\(repo)/models/allops/labels.npy"))
        }
        func manifest(bits: Int) throws {
            let text = try String(contentsOfFile: "\(repo)/manifests/repo.yaml", encoding: .utf8)
            var lines = text.components(separatedBy: "\n").filter { !$0.contains("evaluation") && !$0.contains("eval: {") && !$0.contains("w4a8: {") }
            let strategies = lines.firstIndex(of: "strategies:")!
            lines.insert("  w4a8: {extends: pof2s_tf1, weight_bit: \(bits)}", at: strategies + 1)
            lines.insert("evaluation:\n  eval: {inputs: {input: models/allops/input.npy}, labels: models/allops/labels.npy, metric: top1}", at: strategies)
            let calib = lines.firstIndex { $0.contains("    calibration: calib") }!
            lines.insert("    evaluation: eval", at: calib + 1)
            try lines.joined(separator: "\n").write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        }
        try labels(rows)
        try manifest(bits: 4)
        let first = try vaiq("all")
        XCTAssertEqual(first.status, 0, first.stderr)
        let cell = "\(repo)/build/allops/w4a8/DPUCZDX8G"
        let names = try FileManager.default.contentsOfDirectory(atPath: cell).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertTrue(names.contains { $0.hasPrefix("quantize_eval_model") } && names.contains("metrics.json"), "\(names)")
        let before = try names.map { try Data(contentsOf: URL(fileURLWithPath: "\(cell)/\($0)")) }
        // New weight bits rerun w4a8's quantize; the labels no longer fit, so its evaluate fails.
        try labels(rows + 1)
        try manifest(bits: 3)
        let failed = try vaiq("all", "-k")
        XCTAssertEqual(failed.status, 1)
        XCTAssertTrue(failed.stdout.contains("labels for \(rows) evaluation rows") || failed.stderr.contains("labels for \(rows) evaluation rows"),
                      failed.stdout + failed.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cell).filter { !$0.hasPrefix(".") }.sorted(), names)
        XCTAssertEqual(try names.map { try Data(contentsOf: URL(fileURLWithPath: "\(cell)/\($0)")) }, before)
    }

    /// Under -k, a cell that fails (here: another build's evaluation has one label too many)
    /// leaves every other cell built and materialized; the build exits 1 naming the failure.
    func testUnderKeepGoingAFailingCellLeavesTheOthersBuilt() throws {
        let input = try NPY.decode([UInt8](FileManager.default.contents(atPath: "\(repo)/models/allops/input.npy")!), name: "input.npy")
        let rows = input.shape[0]
        for (name, count) in [("good", rows), ("bad", rows + 1)] {
            try Data(NPY.encode(Tensor([Int64](repeating: 0, count: count), shape: [count])))
                .write(to: URL(fileURLWithPath: "\(repo)/models/allops/\(name).npy"))
        }
        let text = try String(contentsOfFile: "\(repo)/manifests/repo.yaml", encoding: .utf8)
        let builds = text.components(separatedBy: "builds:\n")[0]
        try (builds + """
            evaluation:
              good: {inputs: {input: models/allops/input.npy}, labels: models/allops/good.npy}
              bad: {inputs: {input: models/allops/input.npy}, labels: models/allops/bad.npy}
            builds:
              - {name: ok, model: allops, calibration: calib, evaluation: good, matrix: {strategy: [pof2s_tf1, w4a8], target: [DPUCZDX8G]}}
              - {name: broken, model: allops, calibration: calib, evaluation: bad, strategy: w4a8, target: DPUCADF8H}

            """).write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        let r = try vaiq("all", "-k", "-j", "2")
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        let both = r.stdout + r.stderr
        XCTAssertTrue(both.contains("evaluate/broken/w4a8/DPUCADF8H") && both.contains("labels for \(rows) evaluation rows"), both)
        for cell in ["ok/pof2s_tf1/DPUCZDX8G", "ok/w4a8/DPUCZDX8G"] {
            // Checkpoint-built outputs carry the checkpoint's suffix (quantize_eval_model_2.pb).
            let files = (try? FileManager.default.contentsOfDirectory(atPath: "\(repo)/build/\(cell)")) ?? []
            for prefix in ["quantize_eval_model_", "deploy_model_", "metrics.json"] {
                XCTAssertTrue(files.contains { $0.hasPrefix(prefix) }, "\(cell): \(prefix) in \(files)\n\(both)")
            }
        }
        // The failed cell materializes nothing (all or nothing), though its quantize succeeded.
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(repo)/build/broken"), both)
        // The good cells are done: a rerun has only the failure left to try.
        let again = try vaiq("ok/*", "-k")
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.hasPrefix("vaiq-build: nothing to do"), again.stdout)
    }

    /// A model with two outputs: the evaluation scores the output it names, and metrics.json holds
    /// every output's SQNR.
    func testSeveralOutputsEvaluateTheNamedOneAndReportEachSQNR() throws {
        let fixture = "\(CLITests.repo)/Tests/Fixtures/savedmodel/multi_input"
        try FileManager.default.copyItem(atPath: "\(fixture)/model", toPath: "\(repo)/models/two")
        for k in 0...1 { try FileManager.default.copyItem(atPath: "\(fixture)/input_\(k).npy", toPath: "\(repo)/models/in\(k).npy") }
        try Data(NPY.encode(Tensor([Int64](arrayLiteral: 1, 0), shape: [2]))).write(to: URL(fileURLWithPath: "\(repo)/models/labels.npy"))
        let info = try String(contentsOfFile: "\(fixture)/info.json", encoding: .utf8)
        let (first, second) = info.range(of: "input_0.npy")!.lowerBound < info.range(of: "input_1.npy")!.lowerBound ? ("image", "vector") : ("vector", "image")
        let manifest = """
            models:
              two: {saved_model: models/two}
            calibration:
              calib: {inputs: {\(first): models/in0.npy, \(second): models/in1.npy}, batch_size: 2, calib_iter: 1}
            evaluation:
              eval: {inputs: {\(first): models/in0.npy, \(second): models/in1.npy}, labels: models/labels.npy, output: OUTPUT}
            builds:
              - {model: two, calibration: calib, evaluation: eval, strategy: pof2s, target: DPUCZDX8G}

            """
        try manifest.replacingOccurrences(of: "OUTPUT", with: "output_1").write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        let r = try vaiq("all")
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let metrics = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(repo)/build/two/pof2s/DPUCZDX8G/metrics.json"))) as? [String: Any])
        XCTAssertEqual(metrics["labelledOutput"] as? String, "output_1")
        let outputs = try XCTUnwrap(metrics["outputs"] as? [[String: Any]])
        XCTAssertEqual(outputs.map { $0["output"] as? String }, ["output_0", "output_1"])
        XCTAssertEqual(outputs[1]["sqnrDB"] as? Double, metrics["sqnrDB"] as? Double)
        try manifest.replacingOccurrences(of: "OUTPUT", with: "logits").write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        let bad = try vaiq("all")
        XCTAssertEqual(bad.stderr, "error: manifests/repo.yaml:6:102: evaluation 'eval': output 'logits' is not an output of model 'two' (output_0, output_1)\n")
    }

    /// A quantized model that CPU ops split into several DPU subgraphs is a warning naming the ops
    /// (allops: a leaky ReLU of alpha 0.2, a sigmoid gate and a clip between the convolutions),
    /// once, when quantize runs.
    func testAModelSplitIntoSeveralDPUSubgraphsIsAWarning() throws {
        let r = try vaiq("all")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: allops/pof2s_tf1/DPUCZDX8G: the quantized model splits into 4 DPU subgraphs on DPUCZDX8G; "
                                        + "on the CPU: leaky (LeakyRelu), Sigmoid (Sigmoid), Sub (Sub), clip_by_value/Minimum (Minimum), "
                                        + "clip_by_value (Maximum)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: allops/pof2s_tf1/DPUCZDX8G: LeakyRelu 'leaky' has alpha 0.2; DPUCZDX8G runs only alpha 0.1 (as 26/256), so it runs on the CPU\n"),
                      r.stderr)
        XCTAssertFalse(try vaiq("all").stderr.contains("warning"), "a no-op build does not repeat it")
        let inspect = try CLITests.run(["inspect", "\(repo)/build/allops/pof2s_tf1/DPUCZDX8G/quantize_eval_model_2.pb", "--target", "DPUCZDX8G",
                                        "--no-nodes", "-C", repo])
        XCTAssertTrue(inspect.stdout.contains("  4 DPU subgraphs (each extra one is a round trip between the DPU and the CPU):\n"), inspect.stdout)
    }

    /// Outside a model repository: one line saying so and what to do.
    func testOutsideARepositoryIsOneLine() throws {
        let empty = NSTemporaryDirectory() + "vaiq-empty-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: empty) }
        let real = try XCTUnwrap(URL(fileURLWithPath: empty).resolvingSymlinksInPath().path)
        for command in [["all"], ["status"], ["why", "x"]] {
            let r = try CLITests.run(command + ["-C", empty])
            XCTAssertEqual(r.status, 1)
            XCTAssertEqual(r.stderr, "error: \(real): not a model repository (no manifests/ folder); run vaiq-build in one, name one with -C DIR, or start one with vaiq-build init\n")
        }
    }

    /// A Keras SavedModel as a model: `saved_model:` alone (inputs, outputs and shapes from its
    /// serving signature) builds a matrix, its frozen graph keyed by the files' content.
    func testASavedModelBuildsFromItsSignature() throws {
        let fixture = "\(CLITests.repo)/Tests/Fixtures/savedmodel/functional"
        try FileManager.default.copyItem(atPath: "\(fixture)/model", toPath: "\(repo)/models/keras")
        try FileManager.default.copyItem(atPath: "\(fixture)/input_0.npy", toPath: "\(repo)/models/calib.npy")
        try """
            models:
              keras: {saved_model: models/keras}
            calibration:
              calib: {inputs: {image: models/calib.npy}, batch_size: 2, calib_iter: 1}
            builds:
              - model: keras
                calibration: calib
                strategy: pof2s
                target: DPUCZDX8G
              - {model: keras, calibration: calib, strategy: fsx, target: cpu}

            """.write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        let r = try vaiq("all")
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        for file in ["keras/frozen_graph.pb", "keras/pof2s/DPUCZDX8G/quantize_eval_model.pb", "keras/pof2s/DPUCZDX8G/deploy_model.pb",
                     "keras/fsx/cpu/quantize_eval_model.pb"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(repo)/build/\(file)"), file)
        }
        XCTAssertTrue(try vaiq("all").stdout.hasPrefix("vaiq-build: nothing to do"))
        // The one-shot command on the SavedModel writes the build cell's bytes.
        let out = "\(repo)/oneshot"
        let q = try CLITests.run(["quantize", "--input_saved_model", "\(repo)/models/keras", "--calib_data", "image=\(repo)/models/calib.npy",
                                  "--calib_iter", "1", "--calib_batch_size", "2", "--quantize_strategy", "pof2s", "--output_dir", out])
        XCTAssertEqual(q.status, 0, q.stderr)
        for file in ["quantize_eval_model.pb", "deploy_model.pb", "quant_info.json"] {
            XCTAssertEqual(FileManager.default.contents(atPath: "\(out)/\(file)"),
                           FileManager.default.contents(atPath: "\(repo)/build/keras/pof2s/DPUCZDX8G/\(file)"), file)
        }
        // Another signature name: refused at freeze with the ones it has.
        let text = try String(contentsOfFile: "\(repo)/manifests/repo.yaml", encoding: .utf8)
        try text.replacingOccurrences(of: "{saved_model: models/keras}", with: "{saved_model: models/keras, signature: predict}")
            .write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        let bad = try vaiq("all")
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stderr, "error: manifests/repo.yaml:2:3: model 'keras': models/keras: no signature 'predict'; it has: serve, serving_default\n")
        for (replacement, message) in [
            ("{saved_model: models/keras, graph: models/allops/inference_graph.pb}",
             "manifests/repo.yaml:2:45: model 'keras': give either 'saved_model' or 'graph' (with 'checkpoint'), not both"),
            ("{saved_model: models/allops}", "manifests/repo.yaml:2:24: model 'keras': saved_model: 'models/allops' is not a SavedModel directory (no saved_model.pb in it)"),
            ("{graph: models/allops/inference_graph.pb, signature: x, input_nodes: [a], output_nodes: [b]}",
             "manifests/repo.yaml:2:63: model 'keras': 'signature' needs 'saved_model' (a GraphDef has no signatures)"),
        ] {
            try text.replacingOccurrences(of: "{saved_model: models/keras}", with: replacement)
                .write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
            let e = try vaiq("all")
            XCTAssertEqual(e.stderr, "error: \(message)\n", replacement)
        }
    }

    /// Data outside the repository is read only under a data root the user names; its files are
    /// keyed by content, so the same data at another place reruns nothing, and `why` lists it.
    func testDataRootsAreNamedByTheUserAndHashedByContent() throws {
        let outside = NSTemporaryDirectory() + "vaiq-data-\(UUID().uuidString)"
        let moved = outside + "-moved"
        addTeardownBlock {
            try? FileManager.default.removeItem(atPath: outside)
            try? FileManager.default.removeItem(atPath: moved)
        }
        try FileManager.default.createDirectory(atPath: "\(outside)/calib", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(repo)/models/allops/input.npy", toPath: "\(outside)/calib/input.npy")
        XCTAssertEqual(try vaiq("all").status, 0)
        let cell = "\(repo)/build/allops/w4a8/DPUCZDX8G"
        func outputs() throws -> [String: Data] {
            var out: [String: Data] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: cell) where !name.hasPrefix(".") {
                out[name] = try Data(contentsOf: URL(fileURLWithPath: "\(cell)/\(name)"))
            }
            return out
        }
        let before = try outputs()
        XCTAssertFalse(before.isEmpty)
        let text = try String(contentsOfFile: "\(repo)/manifests/repo.yaml", encoding: .utf8)
        try text.replacingOccurrences(of: "{input: models/allops/input.npy}", with: "{input: \"@sets/calib/input.npy\"}")
            .write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        // Not named: refused at the manifest's place, with what to do.
        var r = try vaiq("all")
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("error: manifests/repo.yaml:8:27: calibration 'calib': input 'input': '@sets/calib/input.npy' is under data root 'sets', which is not named on this machine; name it with --data-root sets=DIR or VAIQ_DATA_ROOTS=sets=DIR"), r.stderr)
        // Absolute paths and '..' stay refused, naming the way out.
        try text.replacingOccurrences(of: "{input: models/allops/input.npy}", with: "{input: ../x/input.npy}")
            .write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        r = try vaiq("all", "--data-root", "sets=\(outside)")
        XCTAssertTrue(r.stderr.contains("'../x/input.npy' leaves the repository (a folder elsewhere is read as '@NAME/...' once named with --data-root NAME=DIR)"), r.stderr)
        try text.replacingOccurrences(of: "{input: models/allops/input.npy}", with: "{input: \"@sets/../../etc/passwd\"}")
            .write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        r = try vaiq("all", "--data-root", "sets=\(outside)")
        XCTAssertTrue(r.stderr.contains("'@sets/../../etc/passwd' leaves data root 'sets'"), r.stderr)
        r = try vaiq("all", "--data-root", "sets")
        XCTAssertEqual(r.stderr, "error: --data-root: 'sets' is not NAME=DIR\n")
        r = try vaiq("all", "--data-root", "sets=\(outside)/nope")
        XCTAssertEqual(r.stderr, "error: --data-root: data root 'sets': '\(outside)/nope' is not a folder\n")
        // Named: the same content, so nothing reruns; `why` lists the root.
        try text.replacingOccurrences(of: "{input: models/allops/input.npy}", with: "{input: \"@sets/calib/input.npy\"}")
            .write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        r = try vaiq("all", "--data-root", "sets=\(outside)")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("vaiq-build: nothing to do"), r.stdout)
        let why = try CLITests.run(["why", "allops/w4a8/DPUCZDX8G", "-C", repo], environment: ["VAIQ_DATA_ROOTS": "sets=\(outside)"])
        XCTAssertEqual(why.status, 0, why.stderr)
        XCTAssertTrue(why.stdout.hasPrefix("data root @sets = "), why.stdout)
        XCTAssertTrue(why.stdout.contains(" (its files are hashed by content, never by path)\nallops/w4a8/DPUCZDX8G:\n"), why.stdout)
        // Moved elsewhere and named there: still nothing to do; a changed file reruns calibration.
        try FileManager.default.moveItem(atPath: outside, toPath: moved)
        r = try vaiq("all", "--data-root", "sets=\(moved)")
        XCTAssertTrue(r.stdout.hasPrefix("vaiq-build: nothing to do"), r.stdout + r.stderr)
        try FileManager.default.removeItem(atPath: "\(repo)/build")
        XCTAssertEqual(try vaiq("all", "--data-root", "sets=\(moved)").status, 0)
        XCTAssertEqual(try outputs(), before)
    }

    /// A graph error of a model frozen from a checkpoint names the manifest's model, not the cache
    /// object the freeze stage made.
    func testAMissingInputNodeIsReportedAgainstTheManifest() throws {
        let text = try String(contentsOfFile: "\(repo)/manifests/repo.yaml", encoding: .utf8)
        try text.replacingOccurrences(of: "input_nodes: [input]", with: "input_nodes: [inpt]")
            .write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        let r = try vaiq("all")
        XCTAssertEqual(r.status, 1)
        let text2 = r.stdout + r.stderr
        XCTAssertTrue(text2.contains("model 'allops' (manifests/repo.yaml:2:3, frozen from models/allops/inference_graph.pb): input node 'inpt' is not a node of the graph"),
                      text2)
        XCTAssertFalse(text2.contains("cache/objects"), text2)
    }

    /// The stat cache trusts size, mtime, inode and device: a same-size rewrite in place with the
    /// mtime restored is not seen, unless --verify-inputs.
    func testVerifyInputsSeesARewriteTheStatCacheTrusts() throws {
        let input = "\(repo)/models/allops/input.npy"
        // Older than the stat cache's 2 s window, as in a real repository, so it is remembered.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: input)
        XCTAssertEqual(try vaiq("all").status, 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: input)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: input))
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: input)))
        bytes[bytes.count - 1] ^= 0x40
        try handle.seek(toOffset: 0)
        handle.write(Data(bytes))
        try handle.close()
        try FileManager.default.setAttributes([.modificationDate: attributes[.modificationDate]!], ofItemAtPath: input)
        let trusted = try vaiq("all")
        XCTAssertTrue(trusted.stdout.hasPrefix("vaiq-build: nothing to do"), trusted.stdout)
        let verified = try vaiq("all", "--verify-inputs")
        XCTAssertEqual(verified.status, 0, verified.stderr)
        XCTAssertTrue(verified.stdout.contains(" ran"), verified.stdout)
        XCTAssertFalse(verified.stdout.hasPrefix("vaiq-build: nothing to do"), verified.stdout)
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
