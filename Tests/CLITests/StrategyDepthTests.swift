import Foundation
import XCTest

/// Strategies below the flat bit widths: `bias_bit` and per-op-type quantizers (`layers:`), built
/// on the allops fixture (convolutions, a depthwise convolution, a matmul, batch norms).
final class StrategyDepthTests: XCTestCase {
    private var repo = ""

    override func setUpWithError() throws {
        repo = NSTemporaryDirectory() + "vaiq-strategy-\(UUID().uuidString)"
        _ = try allopsRepository(repo)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: repo) }

    /// The allops builds' target: dpu-sim runs any power-of-two bit width; cpu also float scales.
    private var target = "dpu-sim"

    private func manifest(strategies: String, matrix: String) throws {
        try (allopsModel() + """
            strategies:
            \(strategies)
            builds:
              - model: allops
                calibration: calib
                matrix: {strategy: [\(matrix)], target: [\(target)]}

            """).write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
    }

    private func vaiq(_ args: String...) throws -> CLITests.Run { try CLITests.run(args + ["-C", repo]) }

    /// node -> (kind, bit width, position) of a cell's quant_info.json.
    private func tensors(_ strategy: String) throws -> [String: (kind: String, bits: Int, position: Int?)] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(repo)/build/allops/\(strategy)/\(target)/quant_info.json"))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        var out: [String: (String, Int, Int?)] = [:]
        for t in try XCTUnwrap(json["tensors"] as? [[String: Any]]) {
            out[try XCTUnwrap(t["node"] as? String)] = (try XCTUnwrap(t["kind"] as? String), try XCTUnwrap(t["bitWidth"] as? Int), t["position"] as? Int)
        }
        return out
    }

    /// The deploy model's text form.
    private func deployText(_ strategy: String) throws -> String {
        let cell = "\(repo)/build/allops/\(strategy)/\(target)"
        let deploy = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: cell).first { $0.hasPrefix("deploy_model") })
        return try graphText("\(cell)/\(deploy)", scratch: "\(repo)/deploy-\(strategy).pbtxt")
    }

    func testBiasBit32GivesThirtyTwoBitBiasPositionsInQuantInfoAndTheDeployModel() throws {
        try manifest(strategies: "  b32: {extends: pof2s, bias_bit: 32}", matrix: "pof2s, b32")
        let r = try vaiq("all")
        XCTAssertEqual(r.status, 0, r.stderr)
        let base = try tensors("pof2s"), wide = try tensors("b32")
        XCTAssertEqual(Set(base.keys), Set(wide.keys))
        let biases = wide.filter { $0.value.kind == "bias" }
        XCTAssertGreaterThanOrEqual(biases.count, 4)
        for (node, t) in wide {
            XCTAssertEqual(t.bits, t.kind == "bias" ? 32 : base[node]!.bits, node)
            XCTAssertNotNil(t.position, node)
        }
        // Every conv-like layer of the deploy model carries its bias position as [32, pos].
        let text = try deployText("b32")
        let bpos = text.components(separatedBy: "key: \"bpos\"").dropFirst()
        XCTAssertGreaterThanOrEqual(bpos.count, 4, text)
        for entry in bpos {
            let list = String(entry.prefix(80)).replacingOccurrences(of: "\n", with: " ")
            XCTAssertTrue(list.contains("i: [32, "), list)
        }
        XCTAssertFalse(try deployText("pof2s").contains("i: [32, "))
    }

    func testADepthwiseWeightOverrideChangesExactlyTheDepthwiseWeights() throws {
        try manifest(strategies: "  dw4: {extends: pof2s, layers: {DepthwiseConv2dNative: {weight: {bit_width: 4}}}}", matrix: "pof2s, dw4")
        let r = try vaiq("all")
        XCTAssertEqual(r.status, 0, r.stderr)
        let base = try tensors("pof2s"), dw = try tensors("dw4")
        XCTAssertEqual(Set(base.keys), Set(dw.keys))
        let changed = dw.keys.filter { dw[$0]!.bits != base[$0]!.bits }.sorted()
        XCTAssertEqual(changed, ["dw1/depthwise_weights", "dw2/depthwise_weights"])
        for node in changed { XCTAssertEqual(dw[node]?.bits, 4) }
        // Its bias keeps the strategy's bit width: only a bias block or bias_bit moves a bias.
        let show = try vaiq("show", "dw4")
        XCTAssertTrue(show.stdout.contains("layers"), show.stdout)
        XCTAssertTrue(show.stdout.contains("{DepthwiseConv2dNative: {weight: {bit_width: 4}}}"), show.stdout)
    }

    func testEveryBuiltinStrategyShownFullAndLoadedBackBuildsTheSameBytes() throws {
        let builtins = ["pof2s_tf1", "pof2s", "pof2s_ft", "pof2s_tqt", "fs", "fsx"]
        target = "cpu"
        try FileManager.default.createDirectory(atPath: "\(repo)/strategies", withIntermediateDirectories: true)
        var copies: [String] = []
        for name in builtins {
            // YAML for all, and JSON for one: both are strategy files.
            let asJSON = name == "fsx"
            let shown = asJSON ? try vaiq("show", name, "--full", "--json") : try vaiq("show", name, "--full")
            XCTAssertEqual(shown.status, 0, shown.stderr)
            let file = "strategies/\(name).\(asJSON ? "json" : "yaml")"
            try shown.stdout.write(toFile: "\(repo)/\(file)", atomically: true, encoding: .utf8)
            copies.append("  \(name)_copy: {file: \(file)}")
        }
        try manifest(strategies: copies.joined(separator: "\n"), matrix: (builtins + builtins.map { "\($0)_copy" }).joined(separator: ", "))
        let r = try vaiq("all", "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        for name in builtins {
            let dir = "\(repo)/build/allops/\(name)/\(target)", copy = "\(repo)/build/allops/\(name)_copy/\(target)"
            let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            XCTAssertEqual(files, try FileManager.default.contentsOfDirectory(atPath: copy).sorted(), name)
            XCTAssertFalse(files.isEmpty)
            for f in files {
                XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(f)")), try Data(contentsOf: URL(fileURLWithPath: "\(copy)/\(f)")), "\(name)/\(f)")
            }
            // The copy's fields and their values are the built-in's, and its shown file is the same text.
            let again = try vaiq("show", "\(name)_copy", "--full")
            XCTAssertEqual(again.stdout.split(separator: "\n").dropFirst(2), try vaiq("show", name, "--full").stdout.split(separator: "\n").dropFirst(2))
        }
    }

    func testAStrategyFileIsCheckedLikeAManifest() throws {
        try FileManager.default.createDirectory(atPath: "\(repo)/strategies", withIntermediateDirectories: true)
        try "quantize_scheme: pof2s\nweight_bit: 4\n".write(toFile: "\(repo)/strategies/short.yaml", atomically: true, encoding: .utf8)
        try manifest(strategies: "  s: {file: strategies/short.yaml}", matrix: "s")
        XCTAssertEqual(try vaiq("all").stderr, "error: manifests/repo.yaml:10:3: strategy 's' does not set 'activation_bit'; extend a built-in (e.g. extends: pof2s) or set it\n")
        try "weight_bits: 4\n".write(toFile: "\(repo)/strategies/short.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try vaiq("all").stderr, "error: strategies/short.yaml:1:1: unknown key 'weight_bits' in strategy file strategies/short.yaml; did you mean 'weight_bit'?\n")
        try manifest(strategies: "  s: {file: strategies/short.yaml, extends: pof2s}", matrix: "s")
        XCTAssertEqual(try vaiq("all").stderr, "error: manifests/repo.yaml:10:45: strategy 's': give either 'file' or 'extends', not both (the file holds every field)\n")
        try manifest(strategies: "  s: {file: strategies/none.yaml}", matrix: "s")
        XCTAssertEqual(try vaiq("all").stderr, "error: manifests/repo.yaml:10:13: strategy 's': file: file 'strategies/none.yaml' does not exist\n")
    }

    /// examples/digits with extra strategies and a build of them (DPUCZDX8G).
    private func digits(strategies: String, matrix: String = "part") throws -> String {
        let dir = try cloneExample("digits", to: "\(repo)-digits-\(UUID().uuidString.prefix(8))")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try """
            strategies:
            \(strategies)
            builds:
              - model: digits
                calibration: digits-calib
                evaluation: digits-test
                matrix: {strategy: [\(matrix)], target: [DPUCZDX8G]}

            """.write(toFile: "\(dir)/manifests/part.yaml", atomically: true, encoding: .utf8)
        return dir
    }

    private func quantInfoNodes(_ dir: String, _ strategy: String = "part") throws -> Set<String> {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/build/digits/\(strategy)/DPUCZDX8G/quant_info.json"))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        return Set(try XCTUnwrap(json["tensors"] as? [[String: Any]]).compactMap { $0["node"] as? String })
    }

    func testInputLayersLeaveEverythingUpstreamFloatAndOnTheCPU() throws {
        let dir = try digits(strategies: "  part: {extends: pof2s_tf1, input_layers: [MaxPool2d]}")
        let r = try CLITests.run(["all", "digits/part/*", "-C", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let nodes = try quantInfoNodes(dir)
        // Upstream of MaxPool2d: the input, conv1 with its batch norm, Relu. MaxPool2d's output is the part's input.
        XCTAssertTrue(nodes.contains("MaxPool2d"), "\(nodes)")
        for upstream in ["input", "Relu", "conv1/weights", "bn1/offset"] { XCTAssertFalse(nodes.contains(upstream), upstream) }
        XCTAssertTrue(nodes.contains("dw1/depthwise_weights") && nodes.contains("BiasAdd_1"), "\(nodes)")
        // The float part is not optimized: its batch norm is still there, unfolded, and marked float.
        let text = try graphText("\(dir)/build/digits/part/DPUCZDX8G/quantize_eval_model_800.pb", scratch: "\(dir)/eval.pbtxt")
        XCTAssertTrue(text.contains("name: \"bn1/moving_mean\""))
        XCTAssertTrue(text.contains("_vaiq_float"))
        let inspect = try CLITests.run(["inspect", "\(dir)/build/digits/part/DPUCZDX8G/deploy_model_800.pb", "--target", "DPUCZDX8G", "-C", dir])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("CPU nodes: conv1/Conv2D (Conv2D), Relu (Relu), MaxPool2d (MaxPool)"), inspect.stdout)
        let metrics = try String(contentsOfFile: "\(dir)/build/digits/part/DPUCZDX8G/metrics.json", encoding: .utf8)
        XCTAssertTrue(metrics.contains("quantizedTop1"), metrics)
    }

    func testOutputLayersLeaveEverythingDownstreamFloat() throws {
        let dir = try digits(strategies: "  part: {extends: pof2s_tf1, output_layers: [Relu_3]}")
        let r = try CLITests.run(["all", "digits/part/*", "-C", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let nodes = try quantInfoNodes(dir)
        XCTAssertTrue(nodes.contains("Relu_3") && nodes.contains("input") && nodes.contains("conv1/weights"), "\(nodes)")
        for downstream in ["fc/weights", "BiasAdd_1", "concat", "Mean/mul"] { XCTAssertFalse(nodes.contains(downstream), downstream) }
    }

    func testAPartReadingTheFloatPartOutsideItsInputLayersIsRefused() throws {
        // Relu_1 (after the depthwise conv) reads MaxPool2d; starting at Relu_1's producer's input instead is fine,
        // but a part starting at BiasAdd leaves the concat reading Relu_2 from before it.
        let unknown = try digits(strategies: "  part: {extends: pof2s_tf1, input_layers: [MaxPool]}")
        let a = try CLITests.run(["all", "digits/part/*", "-C", unknown])
        XCTAssertEqual(a.status, 1)
        XCTAssertTrue(a.stdout.contains("'MaxPool'"), a.stdout)
        XCTAssertTrue(a.stdout.contains("input_layers node"), a.stdout)
        let partial = try digits(strategies: "  part: {extends: pof2s_tf1, input_layers: [BiasAdd]}")
        let b = try CLITests.run(["all", "digits/part/*", "-C", partial])
        XCTAssertEqual(b.status, 1, b.stdout)
        XCTAssertTrue(b.stdout.contains("which is before the quantized part but not one of input_layers; add it to input_layers"), b.stdout)
    }

    func testIgnoreLayersJoinsIgnoreNodes() throws {
        let dir = try digits(strategies: "  part: {extends: pof2s_tf1, ignore_layers: [Relu_3]}\n  same: {extends: pof2s_tf1, ignore_nodes: [Relu_3]}",
                             matrix: "part, same")
        let r = try CLITests.run(["all", "digits/part/*", "digits/same/*", "digits/pof2s_tf1/DPUCZDX8G", "-C", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let info = { (s: String) in try Data(contentsOf: URL(fileURLWithPath: "\(dir)/build/digits/\(s)/DPUCZDX8G/quant_info.json")) }
        XCTAssertEqual(try info("part"), try info("same"))
        XCTAssertNotEqual(try info("part"), try info("pof2s_tf1"))
        let show = try CLITests.run(["show", "part", "-C", dir])
        XCTAssertTrue(show.stdout.contains("ignore_layers"), show.stdout)
    }

    /// Built-in DPUs run 8-bit power-of-two weights, biases and activations: a cell asking for
    /// anything else is refused when the manifests load, at the cell's target in the matrix,
    /// naming the strategy field that asks for it; nothing runs and nothing is written.
    func testACellATargetCannotRunIsRefusedAtLoad() throws {
        func refusal(_ strategies: String, matrix: String, target: String) throws -> CLITests.Run {
            self.target = target
            try manifest(strategies: strategies, matrix: matrix)
            return try vaiq("all")
        }
        var r = try refusal("  w4: {extends: pof2s, weight_bit: 4}", matrix: "w4", target: "DPUCZDX8G")
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "error: manifests/repo.yaml:14:39: cell allops/w4/DPUCZDX8G: target 'DPUCZDX8G' runs 8-bit weights only; "
                       + "the strategy quantizes weights to 4 bits (weight_bit at manifests/repo.yaml:10:36); "
                       + "the target dpu-sim simulates power-of-two quantization at any width\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(repo)/build/allops"), "a refused cell writes nothing")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(repo)/cache/objects"), "nothing ran")
        r = try refusal("  b32: {extends: pof2s, bias_bit: 32}", matrix: "b32", target: "DPUCADF8H")
        XCTAssertTrue(r.stderr.hasPrefix("error: manifests/repo.yaml:14:40: cell allops/b32/DPUCADF8H: target 'DPUCADF8H' runs 8-bit biases only; "
                                         + "the strategy quantizes biases to 32 bits (bias_bit at manifests/repo.yaml:10:35)"), r.stderr)
        r = try refusal("  dw: {extends: pof2s, layers: {DepthwiseConv2dNative: {weight: {bit_width: 4}}}}", matrix: "dw", target: "DPUCVDX8G")
        XCTAssertTrue(r.stderr.contains("target 'DPUCVDX8G' runs 8-bit weights only; the strategy quantizes weights to 4 bits "
                                        + "(layers: DepthwiseConv2dNative: weight at manifests/repo.yaml:10:32)"), r.stderr)
        r = try refusal("  n: {extends: pof2s, nodes_bit: {conv1: 6}}", matrix: "n", target: "DPUCZDX8G")
        XCTAssertTrue(r.stderr.contains("runs 8-bit weights or activations only; the strategy quantizes weights or activations to 6 bits (nodes_bit: conv1 at"), r.stderr)
        // Float scales: the DPUs have no floating-point support.
        r = try refusal("  f: {extends: fsx}", matrix: "f", target: "DPUCZDX8G")
        XCTAssertTrue(r.stderr.hasPrefix("error: manifests/repo.yaml:14:38: cell allops/f/DPUCZDX8G: target 'DPUCZDX8G' runs weights of scheme pof2s only; "
                                         + "the strategy quantizes weights with scheme fs (quantize_scheme at <builtin>/strategies.yaml:"), r.stderr)
        XCTAssertTrue(r.stderr.hasSuffix("float scales need a target with floating-point support, such as cpu\n"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1)
        // dpu-sim and cpu run them; a repository's own target says what it runs.
        XCTAssertEqual(try refusal("  w4: {extends: pof2s, weight_bit: 4}", matrix: "w4", target: "dpu-sim").status, 0)
        XCTAssertEqual(try refusal("  f: {extends: fsx}", matrix: "f", target: "cpu").status, 0)
        r = try refusal("  f: {extends: fsx, activation_bit: 16}", matrix: "f", target: "cpu")
        XCTAssertEqual(r.status, 0, r.stderr)
        try (allopsModel() + """
            strategies:
              w6: {extends: pof2s, weight_bit: 6}
            targets:
              six: {extends: DPUCZDX8G, accepts: {weight: {schemes: [pof2s], bit_widths: [6, 8]},
                    bias: {schemes: [pof2s], bit_widths: [6-8]}, activation: {schemes: [pof2s], bit_widths: [8]}}}
              bad: {extends: DPUCZDX8G, accepts: {weight: {schemes: [pof2s], bit_widths: [9-4]}}}
            builds:
              - {model: allops, calibration: calib, strategy: w6, target: six}

            """).write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try vaiq("all").stderr, "error: manifests/repo.yaml:14:79: target 'bad': accepts: weight: bit_widths: '9-4' is neither a bit width (1-32) nor a range such as 2-16\n")
        let text = try String(contentsOfFile: "\(repo)/manifests/repo.yaml", encoding: .utf8)
        try text.replacingOccurrences(of: "[9-4]}}}", with: "[8]}, bias: {schemes: [pof2s], bit_widths: [8]}, activation: {schemes: [pof2s, fs], bit_widths: [8]}}}")
            .write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        r = try vaiq("all")
        XCTAssertEqual(r.status, 0, r.stderr)
        // The one-shot command checks its strategy against its target the same way.
        let ops = "\(CLITests.repo)/Tests/Fixtures/ops/block_residual"
        let q = try CLITests.run(["quantize", "--input_frozen_graph", "\(ops)/model.pb", "--input_nodes", "x", "--output_nodes", "y",
                                  "--input_shapes", "?,9,9,6", "--calib_data", "x=\(ops)/in_x.npy", "--calib_iter", "1",
                                  "--weight_bit", "4", "--output_dir", "\(repo)/q"])
        XCTAssertEqual(q.status, 2)
        XCTAssertTrue(q.stderr.contains("target 'DPUCZDX8G' runs 8-bit weights only; the strategy quantizes weights to 4 bits (weight_bit at --weight_bit)"), q.stderr)
        XCTAssertTrue(q.stderr.contains("(the default target; choose one with --target)"), q.stderr)
    }

    /// A block's shorthand keys are the flat fields: either spelling gives the same quantize (one
    /// stage key), the nearer definition along extends: wins whichever spelling it uses, and one
    /// level spelling one value twice differently is refused.
    func testBlocksAndShorthandsAreOneSetting() throws {
        try manifest(strategies: """
              flat: {extends: pof2s, weight_bit: 4, activation_bit: 6}
              block: {extends: pof2s, weight: {bit_width: 4}, activation: {bit_width: 6}}
              parent: {extends: pof2s, weight: {bit_width: 4, method: 0}}
              child: {extends: parent, weight_bit: 6}
            """, matrix: "flat, block, child")
        let r = try vaiq("all", "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let stages = try XCTUnwrap(json["stages"] as? [[String: Any]])
        let keys = Dictionary(uniqueKeysWithValues: stages.compactMap { s -> (String, String)? in
            guard let id = s["id"] as? String, let key = s["key"] as? String else { return nil }
            return (id, key)
        })
        XCTAssertEqual(keys["quantize/allops/flat/dpu-sim"], keys["quantize/allops/block/dpu-sim"], "\(keys)")
        XCTAssertEqual(try tensors("flat").mapValues(\.bits), try tensors("block").mapValues(\.bits))
        let child = try tensors("child")
        XCTAssertTrue(child.values.filter { $0.kind == "weight" }.allSatisfy { $0.bits == 6 }, "the child's weight_bit wins over its parent's block")
        let show = try vaiq("show", "child", "--full")
        XCTAssertTrue(show.stdout.contains("weight: {bit_width: 6, method: 0, narrow_range: false, per_channel: false, round_mode: 2, scheme: pof2s, symmetric: true}"), show.stdout)
        XCTAssertTrue(show.stdout.contains("weight_bit: 6\n"), show.stdout)
        try manifest(strategies: "  both: {extends: pof2s, weight_bit: 4, weight: {bit_width: 6}}", matrix: "both")
        XCTAssertEqual(try vaiq("all").stderr, "error: manifests/repo.yaml:10:49: strategy 'both': weight.bit_width is 6 but weight_bit is 4 (manifests/repo.yaml:10:38); they are one setting\n")
    }

    /// Per-object keys each family does not build are refused by name, with the reason.
    func testObjectBlocksAreCheckedByName() throws {
        func error(_ strategy: String) throws -> String {
            try manifest(strategies: "  s: {\(strategy)}", matrix: "s")
            return try vaiq("all").stderr
        }
        XCTAssertEqual(try error("extends: pof2s, weight: {scheme: fs}"),
                       "error: manifests/repo.yaml:10:31: 'weight.scheme: fs' is not supported for pof2s: a float-scale weight needs quantize_scheme fs or fsx: the pof2s family writes DPU fix positions\n")
        XCTAssertEqual(try error("extends: pof2s, weight: {round_mode: 0}"),
                       "error: manifests/repo.yaml:10:31: 'weight.round_mode: 0' is not supported (yet) for pof2s: power-of-two weights round half away from zero (2), as vai_q_tensorflow\n")
        XCTAssertEqual(try error("extends: pof2s, activation: {narrow_range: true}"),
                       "error: manifests/repo.yaml:10:35: 'activation.narrow_range: true' is not supported (yet) for pof2s: power-of-two ranges are [-2^(b-1), 2^(b-1)-1] (DPUCADF8H narrows activations by its arch_type)\n")
        XCTAssertEqual(try error("extends: fsx, activation: {scheme: pof2s}"),
                       "error: manifests/repo.yaml:10:33: 'activation.scheme: pof2s' is not supported (yet) for fsx: float-scale strategies scale activations by calibrated floats; power-of-two activations are the pof2s family's\n")
        XCTAssertEqual(try error("extends: fsx, weight: {round_mode: 0}"),
                       "error: manifests/repo.yaml:10:29: 'weight.round_mode: 0' is not supported (yet) for fsx: float-scale models use TensorFlow's fake quantization, which rounds half up (1)\n")
        XCTAssertEqual(try error("extends: fsx, weight: {method: 1}"),
                       "error: manifests/repo.yaml:10:29: 'weight.method: 1' is not supported for fsx: float-scale weight ranges are the weights' extremes\n")
        XCTAssertEqual(try error("extends: pof2s, weight: {symmetric: false}"),
                       "error: manifests/repo.yaml:10:31: 'weight.symmetric: false' is not supported (yet) for pof2s: weights are quantized symmetrically (only activations may take a zero point, under fs or fsx: activation_symmetry)\n")
        XCTAssertEqual(try error("extends: pof2s, weight: {per_channel: true}"),
                       "error: manifests/repo.yaml:10:31: 'per_channel: true' is not supported for pof2s: DPUs scale each tensor by one power of two; per-channel scales need quantize_scheme fs or fsx\n")
        XCTAssertEqual(try error("extends: pof2s, weight: {kernel: 4}"),
                       "error: manifests/repo.yaml:10:32: unknown key 'kernel' in strategy 's': weight; expected one of: bit_width, method, narrow_range, per_channel, round_mode, scheme, symmetric\n")
    }

    /// Power-of-two weights under a float-scale strategy: each weight's fake-quantization range is
    /// the grid of the position a pof2s weight quantizer chooses, [-2^(b-1), 2^(b-1)-1] * 2^-p.
    func testPowerOfTwoWeightsUnderFloatScalesUseThePof2sPositions() throws {
        target = "cpu"
        try manifest(strategies: """
              mixed: {extends: fsx, calib_method: minmax, weight: {scheme: pof2s, per_channel: false}}
              narrow: {extends: fsx, calib_method: minmax, weight: {scheme: pof2s, per_channel: false, narrow_range: true}}
            """, matrix: "mixed, narrow, pof2s_tf1, fsx")
        let r = try vaiq("all")
        XCTAssertEqual(r.status, 0, r.stderr)
        /// Each weight's (first channel's) range.
        func weights(_ s: String) throws -> [String: (min: Double, max: Double)] {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(repo)/build/allops/\(s)/cpu/quant_info.json"))
            var out: [String: (Double, Double)] = [:]
            for t in try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]]) where t["kind"] as? String == "weight" {
                let hi = try XCTUnwrap(t["amax"] as? [Double]), lo = (t["mins"] as? [Double]) ?? hi.map { -$0 }
                out[try XCTUnwrap(t["node"] as? String)] = (lo[0], hi[0])
            }
            return out
        }
        let mixed = try weights("mixed"), narrow = try weights("narrow")
        let positions = try tensors("pof2s_tf1").filter { $0.value.kind == "weight" }
        XCTAssertGreaterThanOrEqual(positions.count, 4)
        XCTAssertEqual(Set(mixed.keys), Set(positions.keys))
        for (node, t) in positions {
            let step = pow(2.0, -Double(try XCTUnwrap(t.position)))
            XCTAssertEqual(mixed[node]!.min, -128 * step, node)
            XCTAssertEqual(mixed[node]!.max, 127 * step, node)
            // Narrow: a symmetric power-of-two grid (the search scores it, so its position may differ).
            let n = narrow[node]!
            XCTAssertEqual(n.min, -n.max, node)
            XCTAssertEqual(log2(n.max / 127).rounded(), log2(n.max / 127), node)
        }
        let fsx = try weights("fsx")
        XCTAssertTrue(fsx.values.contains { $0.min != -$0.max || log2($0.max / 127).rounded() != log2($0.max / 127) }, "float scales are not a power-of-two grid")
        let cell = "\(repo)/build/allops/narrow/cpu"
        let model = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: cell).first { $0.hasPrefix("quantize_eval_model_") && !$0.contains("_tf") })
        let text = try graphText("\(cell)/\(model)", scratch: "\(repo)/narrow.pbtxt")
        XCTAssertTrue(text.contains("key: \"narrow_range\"\n    value {\n      b: true"), "narrow weights are fake-quantized with narrow_range")
    }

    func testLayerBlocksAreCheckedByName() throws {
        func error(_ layers: String) throws -> String {
            try manifest(strategies: "  s: {extends: pof2s, layers: \(layers)}", matrix: "s")
            return try vaiq("all").stderr
        }
        XCTAssertEqual(try error("{Conv3D: {weight: {bit_width: 4}}}"),
                       "error: manifests/repo.yaml:10:31: 'layers: Conv3D' is not supported for pof2s: not an op type whose tensors are quantized; known: Add, AddN, AddV2, AvgPool, Concat, ConcatV2, Conv2D, Conv2DBackpropInput, DepthToSpace, DepthwiseConv2dNative, ExpandDims, LeakyRelu, MatMul, Max, MaxPool, Mean, MirrorPad, Mul, Pad, Placeholder, Relu, Relu6, Reshape, ResizeBilinear, ResizeNearestNeighbor, Squeeze, Transpose\n")
        XCTAssertEqual(try error("{AddV2: {weight: {bit_width: 4}}}"),
                       "error: manifests/repo.yaml:10:31: 'layers: AddV2' is not supported for pof2s: AddV2 has no weights or biases to quantize (only: Conv2D, Conv2DBackpropInput, DepthwiseConv2dNative, MatMul, Mul)\n")
        XCTAssertEqual(try error("{Conv2D: {weight: {round_mode: 1}}}"),
                       "error: manifests/repo.yaml:10:50: strategy 's': layers: Conv2D: weight: 'round_mode' is not supported (yet): a quantizer here sets bit_width and method only\n")
        XCTAssertEqual(try error("{Conv2D: {bias: {method: 2}}}"),
                       "error: manifests/repo.yaml:10:56: strategy 's': layers: Conv2D: bias: method must be in 0...1; found 2\n")
        XCTAssertEqual(try error("{Conv2D: {weight: {bit_width: 32}}}"),
                       "error: manifests/repo.yaml:10:61: strategy 's': layers: Conv2D: weight: bit_width must be in 2...16; found 32\n")
        XCTAssertEqual(try error("{Conv2D: {kernel: {bit_width: 4}}}"),
                       "error: manifests/repo.yaml:10:41: unknown key 'kernel' in strategy 's': layers: Conv2D; expected one of: activation, bias, weight\n")
    }
}

/// A GraphDef's text form, through `vaiq-build convert` into `scratch`.
func graphText(_ path: String, scratch: String) throws -> String {
    let r = try CLITests.run(["convert", path, "-o", scratch])
    XCTAssertEqual(r.status, 0, r.stderr)
    return try String(contentsOfFile: scratch, encoding: .utf8)
}
