import Foundation
import Pipeline
import XCTest

/// The one-shot `vaiq-build quantize` and a build run the same stages: for every built-in
/// strategy and target they write the same bytes; its strategy flags are the strategy table's
/// fields; `show`, `inspect --target` and the report read what the stages declared.
final class OneRoadTests: XCTestCase {
    private var repo = ""
    private let model = "\(CLITests.repo)/Tests/Fixtures/ops/block_residual"
    static let strategies = ["pof2s_tf1", "pof2s", "pof2s_ft", "pof2s_tqt", "fs", "fsx"]
    static let targets = ["DPUCZDX8G", "DPUCAHX8H", "DPUCADF8H", "DPUCVDX8G", "DPUCV2DX8G", "dpu-sim", "cpu"]
    /// The power-of-two strategies run on every target; float scales only on the cpu.
    static func runs(_ strategy: String, on target: String) -> Bool { !strategy.hasPrefix("fs") || target == "cpu" }

    override func setUpWithError() throws {
        repo = NSTemporaryDirectory() + "vaiq-oneroad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: "\(repo)/manifests", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: model, toPath: "\(repo)/m")
        try manifest(builds: """
              - model: m
                calibration: c
                matrix: {strategy: [\(Self.strategies.filter { !$0.hasPrefix("fs") }.joined(separator: ", "))], target: [\(Self.targets.joined(separator: ", "))]}
              - model: m
                calibration: c
                matrix: {strategy: [fs, fsx], target: [cpu]}
            """)
    }

    /// The repository's manifest: model `m` (block_residual), calibration `c`, and `builds`.
    private func manifest(builds: String) throws {
        try """
            models:
              m: {graph: m/model.pb, input_nodes: [x], output_nodes: [y], input_shapes: [[-1, 9, 9, 6]]}
            calibration:
              c: {inputs: {x: m/in_x.npy}, batch_size: 2, calib_iter: 1}
            builds:
            \(builds)

            """.write(toFile: "\(repo)/manifests/m.yaml", atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: repo) }

    private func quantize(_ extra: [String], into dir: String) throws -> CLITests.Run {
        try CLITests.run(["quantize", "--input_frozen_graph", "\(repo)/m/model.pb", "--input_nodes", "x", "--output_nodes", "y",
                          "--input_shapes", "?,9,9,6", "--calib_data", "x=\(repo)/m/in_x.npy", "--calib_iter", "1",
                          "--output_dir", dir] + extra)
    }

    func testOneShotWritesTheBuildsBytesForEveryStrategyAndTarget() throws {
        let build = try CLITests.run(["all", "-C", repo, "-j2"])
        XCTAssertEqual(build.status, 0, build.stderr)
        var compared = 0
        for strategy in Self.strategies {
            for target in Self.targets where Self.runs(strategy, on: target) {
                let dir = "\(repo)/oneshot/\(strategy)/\(target)"
                let r = try quantize(["--quantize_strategy", strategy, "--target", target, "-j2"], into: dir)
                XCTAssertEqual(r.status, 0, r.stderr)
                let cell = "\(repo)/build/m/\(strategy)/\(target)"
                let files = try FileManager.default.contentsOfDirectory(atPath: cell).sorted()
                XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), files, "\(strategy)/\(target)")
                XCTAssertTrue(files.contains("quant_info.json"))
                XCTAssertEqual(files.contains("deploy_model.pb"), !strategy.hasPrefix("fs"))
                for file in files {
                    XCTAssertEqual(FileManager.default.contents(atPath: "\(dir)/\(file)"), FileManager.default.contents(atPath: "\(cell)/\(file)"),
                                   "\(strategy)/\(target)/\(file)")
                    compared += 1
                }
            }
        }
        XCTAssertEqual(compared, 7 * (7 + 8 + 8 + 7) + 2 * 3)
    }

    func testStrategyFlagsAreTheTablesFieldsAndRefusalsAreUsageErrors() throws {
        let help = try CLITests.run(["quantize", "--help"]).stdout
        let flags = Set(help.split(whereSeparator: { " \n,".contains($0) }).filter { $0.hasPrefix("--") }.map { String($0.dropFirst(2)) })
        let fields = Set(StrategyField.all.map(\.name)).subtracting(["quantize_scheme"])
        XCTAssertEqual(fields.subtracting(flags), [], "every strategy field is a flag")
        let other: Set = ["input_frozen_graph", "input_saved_model", "signature", "input_nodes", "output_nodes", "input_shapes", "calib_data", "calib_iter", "calib_batch_size",
                          "quantize_strategy", "target", "arch_type", "eval_data", "eval_labels", "eval_batch_size", "output_dir", "jobs", "profile", "help", "version"]
        XCTAssertEqual(flags.subtracting(fields).subtracting(other), [], "a flag outside the strategy table and the job's inputs")

        let dir = "\(repo)/refused"
        var r = try quantize(["--per_channel", "1"], into: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--per_channel: 'per_channel: true' is not supported for pof2s: DPUs scale each tensor"), r.stderr)
        r = try quantize(["--quantize_strategy", "fs", "--align_pool", "2"], into: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--align_pool: 'align_pool: 2' is not supported for fs"), r.stderr)
        r = try quantize(["--replace_softmax", "1"], into: dir)
        XCTAssertTrue(r.stderr.contains("'replace_softmax: true' is not supported (yet) for pof2s"), r.stderr)
        r = try quantize(["--weight_bit", "1"], into: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--weight_bit must be in 2...16; found 1"), r.stderr)
        r = try quantize(["--target", "DPUX"], into: dir)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("unknown target 'DPUX'; built-in: DPUCADF8H, DPUCAHX8H, DPUCV2DX8G, DPUCVDX8G, DPUCZDX8G"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "nothing written for a refused flag")

        // A flag that acts changes the bytes: keep_float_weight stores the weights on their grid.
        XCTAssertEqual(try quantize([], into: "\(repo)/a").status, 0)
        XCTAssertEqual(try quantize(["--keep_float_weight", "0"], into: "\(repo)/b").status, 0)
        XCTAssertNotEqual(FileManager.default.contents(atPath: "\(repo)/a/quantize_eval_model.pb"),
                          FileManager.default.contents(atPath: "\(repo)/b/quantize_eval_model.pb"))
        XCTAssertEqual(FileManager.default.contents(atPath: "\(repo)/a/deploy_model.pb"), FileManager.default.contents(atPath: "\(repo)/b/deploy_model.pb"),
                       "the deploy model holds quantized weights either way")
    }

    func testShowMarksEveryFieldActingOrNotApplicable() throws {
        let r = try CLITests.run(["show", "fs", "-C", repo])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let builtins = try String(contentsOfFile: "\(CLITests.repo)/manifests/strategies.yaml", encoding: .utf8)
        let fsLine = try XCTUnwrap(builtins.components(separatedBy: "\n").firstIndex(of: "  fs:")) + 1
        XCTAssertEqual(lines.first, "strategy fs (<builtin>/strategies.yaml:\(fsLine):3)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("  per_channel ") && $0.contains("true") && $0.contains("acting") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("  align_concat ") && $0.contains("not applicable: float scales have no fix positions") }, r.stdout)
        XCTAssertEqual(lines.count, 1 + StrategyField.all.count + 1, r.stdout)
        let target = try CLITests.run(["show", "DPUCADF8H", "-C", repo])
        XCTAssertTrue(target.stdout.contains("  arch_type      DPUCADF8H"), target.stdout)
        XCTAssertTrue(target.stdout.contains("  accepts        {weight: pof2s 8, bias: pof2s 8, activation: pof2s 8}"), target.stdout)
        let cpu = try CLITests.run(["show", "cpu", "-C", repo])
        XCTAssertTrue(cpu.stdout.contains("{weight: pof2s|fs 2-16, bias: pof2s|float 2-32, activation: pof2s|fs 2-16}"), cpu.stdout)
        let missing = try CLITests.run(["show", "nope", "-C", repo])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.hasPrefix("error: no strategy or target named 'nope'; defined: fs, fsx, pof2s, pof2s_ft, pof2s_tf1, pof2s_tqt, DPUCADF8H"), missing.stderr)
    }

    func testInspectTargetFollowsSupportedOps() throws {
        let graph = "\(CLITests.repo)/examples/digits/models/digits/inference_graph.pb"
        let zynq = try CLITests.run(["inspect", graph, "--no-nodes", "--target", "DPUCZDX8G", "-C", repo])
        XCTAssertEqual(zynq.status, 0, zynq.stderr)
        func row(_ text: String, _ op: String) -> [String] {
            text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.first { $0.count == 4 && $0[1] == op } ?? []
        }
        XCTAssertEqual(row(zynq.stdout, "DepthwiseConv2dNative"), ["1", "DepthwiseConv2dNative", "compute", "dpu"], zynq.stdout)
        XCTAssertEqual(row(zynq.stdout, "Const").last, "-")
        // What the outputs need all runs on the DPU (the initializers' RandomUniform is no part of it).
        XCTAssertTrue(zynq.stdout.contains("target DPUCZDX8G: every op the outputs need runs on the DPU\n  1 DPU subgraph:\n"), zynq.stdout)
        XCTAssertFalse(zynq.stdout.contains("DepthwiseConv2dNative (1)"), zynq.stdout)
        // A repository target without depthwise_conv2d: the same graph's depthwise conv moves to the CPU.
        try """
            targets:
              nodw: {extends: DPUCZDX8G, supported_ops: [conv2d, dense, relu, add, concat, max_pool, avg_pool, mean, reshape]}

            """.write(toFile: "\(repo)/manifests/t.yaml", atomically: true, encoding: .utf8)
        let nodw = try CLITests.run(["inspect", graph, "--no-nodes", "--target", "nodw", "-C", repo])
        XCTAssertEqual(row(nodw.stdout, "DepthwiseConv2dNative"), ["1", "DepthwiseConv2dNative", "compute", "cpu"], nodw.stdout)
        XCTAssertTrue(nodw.stdout.contains("target nodw: on the CPU: ") && nodw.stdout.contains("DepthwiseConv2dNative (1)"), nodw.stdout)
    }

    func testReportReadsDeclaredOutputsAndVerboseListsEveryPath() throws {
        let build = try CLITests.run(["all", "-C", repo, "--verbose"])
        XCTAssertEqual(build.status, 0, build.stderr)
        let summary = build.stdout.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertEqual(summary.components(separatedBy: "build/").count - 1, 7 * (7 + 8 + 8 + 7) + 2 * 3, summary)
        let before = try CLITests.run(["report", "--json", "-C", repo])
        XCTAssertEqual(before.status, 0, before.stderr)
        // Stray files that sort before the declared ones change nothing.
        for name in ["deploy_model_0.pb", "quantize_eval_model_0.pb", "metrics.json"] {
            try Data(repeating: 7, count: 12345).write(to: URL(fileURLWithPath: "\(repo)/build/m/fs/cpu/\(name)"))
        }
        XCTAssertEqual(try CLITests.run(["report", "--json", "-C", repo]).stdout, before.stdout)
    }

    func testDumpIsABuildStageWithTheDumpCommandsBytes() throws {
        try manifest(builds: "  - {model: m, calibration: c, strategy: pof2s, target: DPUCZDX8G, dump: {batch_size: 2, dump_float: true}}")
        let build = try CLITests.run(["all", "-C", repo])
        XCTAssertEqual(build.status, 0, build.stderr)
        XCTAssertTrue(build.stdout.contains("ran dump/m/pof2s/DPUCZDX8G"), build.stdout)
        let dumped = "\(repo)/build/m/pof2s/DPUCZDX8G/dump"
        let listing = try String(contentsOfFile: "\(dumped)/files.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertTrue(listing.contains("dump_results_0/x_aquant.bin"), "\(listing)")
        XCTAssertTrue(listing.contains { $0.hasPrefix("dump_results_weights/") && $0.hasSuffix("wquant.bin") }, "\(listing)")
        let command = try CLITests.run(["dump", "--input_frozen_graph", "\(repo)/build/m/pof2s/DPUCZDX8G/quantize_eval_model.pb",
                                        "--calib_data", "x=\(repo)/m/in_x.npy", "--batch_size", "2", "--dump_float", "1",
                                        "--output_dir", "\(repo)/dumped"])
        XCTAssertEqual(command.status, 0, command.stderr)
        for file in listing {
            XCTAssertEqual(FileManager.default.contents(atPath: "\(dumped)/\(file)"), FileManager.default.contents(atPath: "\(repo)/dumped/\(file)"), file)
        }
        XCTAssertTrue(try CLITests.run(["all", "-C", repo]).stdout.hasPrefix("vaiq-build: nothing to do"))

        try String(contentsOfFile: "\(repo)/manifests/m.yaml", encoding: .utf8).replacingOccurrences(of: "strategy: pof2s", with: "strategy: fs")
            .write(toFile: "\(repo)/manifests/m.yaml", atomically: true, encoding: .utf8)
        let refused = try CLITests.run(["all", "-C", repo])
        XCTAssertEqual(refused.status, 1)
        XCTAssertEqual(refused.stderr, "error: manifests/m.yaml:6:71: 'dump' is not supported for fs (cell m/fs/DPUCZDX8G): float-scale models have no FixNeurons to dump\n")
    }

    func testProfileSaysWhereTheTimeWent() throws {
        let r = try quantize(["--profile"], into: "\(repo)/p")
        XCTAssertEqual(r.status, 0, r.stderr)
        let calibrate = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("  calibrate/") }, r.stdout)
        for phase in ["parse", "inference", "statistics", "write", "store"] { XCTAssertTrue(calibrate.contains(" \(phase) "), "\(calibrate)") }
        XCTAssertTrue(r.stdout.contains("  phases: "), r.stdout)
        let build = try CLITests.run(["all", "-C", repo, "--json"])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(build.stdout.utf8)) as? [String: Any])
        let stages = try XCTUnwrap(json["stages"] as? [[String: Any]])
        let quantize = try XCTUnwrap(stages.first { ($0["kind"] as? String) == "quantize" })
        XCTAssertNotNil((quantize["phases"] as? [String: Double])?["quantize"], "\(quantize)")
    }

    func testCalibrationProgressOnATerminalOnly() throws {
        let args = ["quantize", "--input_frozen_graph", "\(repo)/m/model.pb", "--input_nodes", "x", "--output_nodes", "y", "--input_shapes",
                    "?,9,9,6", "--calib_data", "x=\(repo)/m/in_x.npy", "--calib_iter", "2", "--calib_batch_size", "1", "--output_dir", "\(repo)/t"]
        XCTAssertFalse(try quantize(["--calib_iter", "2", "--calib_batch_size", "1"], into: "\(repo)/t0").stdout.contains("batch 1/2"))
        // script(1) gives the command a terminal; CI's variable would turn the status line off.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qc", ([CLITests.binary] + args).joined(separator: " "), "/dev/null"]
        var env = ProcessInfo.processInfo.environment
        env["CI"] = nil
        env["NO_COLOR"] = nil
        env["TERM"] = "xterm"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertTrue(text.contains("(batch 1/2, "), text)
        XCTAssertTrue(text.contains("quantized "), text)
    }

    func testEvalDataAndArchTypeFlagsRunTheBuildsStages() throws {
        // Labels for the fixture's 2 rows (np.save of int64 [0, 1]).
        let header: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        var dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }"
        dict += String(repeating: " ", count: 64 - (10 + dict.utf8.count + 1) % 64) + "\n"
        var bytes = header + [UInt8(dict.utf8.count & 0xFF), UInt8(dict.utf8.count >> 8)] + Array(dict.utf8)
        for v: Int64 in [0, 1] { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        try Data(bytes).write(to: URL(fileURLWithPath: "\(repo)/m/labels.npy"))
        try manifest(builds: "  - {model: m, calibration: c, evaluation: e, strategy: pof2s_tf1, target: DPUCADF8H}\n"
                     + "evaluation:\n  e: {inputs: {x: m/in_x.npy}, labels: m/labels.npy, batch_size: 2}")
        XCTAssertEqual(try CLITests.run(["all", "-C", repo]).status, 0)
        let r = try quantize(["--arch_type", "DPUCADF8H", "--eval_data", "x=\(repo)/m/in_x.npy", "--eval_labels", "\(repo)/m/labels.npy",
                              "--eval_batch_size", "2"], into: "\(repo)/q")
        XCTAssertEqual(r.status, 0, r.stderr)
        for file in ["metrics.json", "quantize_eval_model.pb", "quant_info.json", "deploy_model.pb"] {
            XCTAssertEqual(FileManager.default.contents(atPath: "\(repo)/q/\(file)"),
                           FileManager.default.contents(atPath: "\(repo)/build/m/pof2s_tf1/DPUCADF8H/\(file)"), file)
        }
        // --arch_type overrides the target's: DPUCZDX8G with it equals DPUCADF8H.
        XCTAssertEqual(try quantize(["--target", "DPUCZDX8G", "--arch_type", "DPUCADF8H"], into: "\(repo)/z").status, 0)
        XCTAssertEqual(FileManager.default.contents(atPath: "\(repo)/z/quantize_eval_model_tf.pb"),
                       FileManager.default.contents(atPath: "\(repo)/q/quantize_eval_model_tf.pb"))
        XCTAssertEqual(try quantize(["--target", "DPUCZDX8G"], into: "\(repo)/d").status, 0)
        XCTAssertNotEqual(FileManager.default.contents(atPath: "\(repo)/d/quantize_eval_model_tf.pb"),
                          FileManager.default.contents(atPath: "\(repo)/q/quantize_eval_model_tf.pb"), "narrow FakeQuant ranges")
    }
}
