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
                       "error: manifests/repo.yaml:10:50: strategy 's': layers: Conv2D: weight: 'round_mode' is not supported (yet): a power-of-two quantizer here sets bit_width and method only\n")
        XCTAssertEqual(try error("{Conv2D: {bias: {method: 1}}}"),
                       "error: manifests/repo.yaml:10:48: strategy 's': layers: Conv2D: bias: 'method' is not supported (yet): a bias quantizer here sets bit_width only\n")
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
