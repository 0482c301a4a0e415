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

    private func manifest(strategies: String, matrix: String) throws {
        try (allopsModel() + """
            strategies:
            \(strategies)
            builds:
              - model: allops
                calibration: calib
                matrix: {strategy: [\(matrix)], target: [DPUCZDX8G]}

            """).write(toFile: "\(repo)/manifests/repo.yaml", atomically: true, encoding: .utf8)
    }

    private func vaiq(_ args: String...) throws -> CLITests.Run { try CLITests.run(args + ["-C", repo]) }

    /// node -> (kind, bit width, position) of a cell's quant_info.json.
    private func tensors(_ strategy: String) throws -> [String: (kind: String, bits: Int, position: Int?)] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(repo)/build/allops/\(strategy)/DPUCZDX8G/quant_info.json"))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        var out: [String: (String, Int, Int?)] = [:]
        for t in try XCTUnwrap(json["tensors"] as? [[String: Any]]) {
            out[try XCTUnwrap(t["node"] as? String)] = (try XCTUnwrap(t["kind"] as? String), try XCTUnwrap(t["bitWidth"] as? Int), t["position"] as? Int)
        }
        return out
    }

    /// The deploy model's text form.
    private func deployText(_ strategy: String) throws -> String {
        let cell = "\(repo)/build/allops/\(strategy)/DPUCZDX8G"
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
            let dir = "\(repo)/build/allops/\(name)/DPUCZDX8G", copy = "\(repo)/build/allops/\(name)_copy/DPUCZDX8G"
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
