import BuildCore
import FileIO
import Foundation
import Manifest
import TFProto
import TensorFlowIO
import Tensors
@testable import Pipeline
import XCTest

/// Every key of the built-in strategies and targets either changes what a quantize writes (shown
/// here on a model where it applies) or is refused when the manifests load, with the place the
/// value was written. The one-shot command's flags go through the same table (`StrategyField`).
final class StrategyFieldTests: XCTestCase {
    /// A field that acts: quantizing with `variant` over `base` (a built-in strategy and overrides) changes the output bytes.
    struct Acting {
        let field: String
        let model: String
        let base: String
        var baseOverrides: [String: ParameterValue] = [:]
        let value: ParameterValue
    }

    static let acting: [Acting] = [
        Acting(field: "quantize_scheme", model: "digits", base: "pof2s_tf1", value: .string("fs")),
        Acting(field: "weight_bit", model: "digits", base: "pof2s", value: .int(4)),
        Acting(field: "activation_bit", model: "digits", base: "pof2s", value: .int(6)),
        Acting(field: "bias_bit", model: "digits", base: "pof2s", value: .int(16)),
        Acting(field: "layers", model: "digits", base: "pof2s",
               value: .map(["DepthwiseConv2dNative": .map(["weight": .map(["bit_width": .int(4)])])])),
        Acting(field: "method", model: "digits", base: "pof2s", value: .int(0)),
        Acting(field: "input_method", model: "digits", base: "pof2s_tf1", value: .int(1)),
        Acting(field: "nodes_bit", model: "digits", base: "pof2s", value: .map(["Relu_3": .int(4)])),
        Acting(field: "nodes_method", model: "digits", base: "pof2s", value: .map(["Relu_3": .int(0)])),
        Acting(field: "ignore_nodes", model: "digits", base: "pof2s", value: .list([.string("Relu_3")])),
        Acting(field: "ignore_layers", model: "digits", base: "pof2s", value: .list([.string("Relu_3")])),
        Acting(field: "input_layers", model: "digits", base: "pof2s", value: .list([.string("MaxPool2d")])),
        Acting(field: "output_layers", model: "digits", base: "pof2s", value: .list([.string("Relu_3")])),
        Acting(field: "align_concat", model: "digits", base: "pof2s", value: .int(2)),
        Acting(field: "align_pool", model: "digits", base: "pof2s", value: .int(2)),
        Acting(field: "align_rule", model: "digits", base: "pof2s_tf1", value: .string("min")),
        Acting(field: "adjust_shift_bias", model: "shift", base: "pof2s", baseOverrides: ["adjust_shift_cut": .int(0)], value: .int(0)),
        Acting(field: "adjust_shift_cut", model: "shift", base: "pof2s", value: .int(0)),
        Acting(field: "simulate_dpu", model: "digits", base: "pof2s", value: .bool(false)),
        Acting(field: "scale_all_avgpool", model: "digits", base: "pof2s", value: .bool(false)),
        Acting(field: "fold_constant", model: "shift", base: "pof2s", value: .bool(false)),
        Acting(field: "fold_bn", model: "digits", base: "pof2s", value: .bool(false)),
        Acting(field: "do_cle", model: "digits", base: "pof2s", value: .bool(true)),
        Acting(field: "replace_relu6", model: "allops", base: "pof2s", baseOverrides: ["do_cle": .bool(true)], value: .bool(false)),
        Acting(field: "replace_sigmoid", model: "sigmoid", base: "pof2s", value: .bool(true)),
        Acting(field: "keep_float_weight", model: "digits", base: "pof2s", value: .bool(false)),
        Acting(field: "per_channel", model: "digits", base: "fs", baseOverrides: ["per_channel": .bool(false)], value: .bool(true)),
        Acting(field: "calib_method", model: "digits", base: "fs", value: .string("minmax")),
        Acting(field: "calib_percentile", model: "digits", base: "fs", baseOverrides: ["calib_method": .string("percentile")], value: .double(99)),
        Acting(field: "activation_symmetry", model: "digits", base: "fsx", value: .bool(false)),
        Acting(field: "include_fast_ft", model: "digits", base: "pof2s", value: .bool(true)),
        Acting(field: "fast_ft_epochs", model: "digits", base: "pof2s", baseOverrides: ["include_fast_ft": .bool(true)], value: .int(1)),
        Acting(field: "include_bias_corr", model: "digits", base: "pof2s_tf1", value: .bool(true)),
        // The per-object blocks: power-of-two weights under float scales, a bias and an activation method.
        Acting(field: "weight", model: "digits", base: "fsx", value: .map(["scheme": .string("pof2s")])),
        Acting(field: "bias", model: "digits", base: "pof2s", value: .map(["method": .int(0)])),
        Acting(field: "activation", model: "digits", base: "pof2s", value: .map(["method": .int(0)])),
    ]

    /// A strategy manifest entry whose value would not act, and the refusal's text after the location.
    static let refused: [(field: String, yaml: String, message: String)] = [
        ("replace_softmax", "extends: pof2s, replace_softmax: true", "'replace_softmax: true' is not supported (yet) for pof2s"),
        ("per_channel", "extends: pof2s, per_channel: true", "'per_channel: true' is not supported for pof2s"),
        ("calib_method", "extends: pof2s_tqt, calib_method: kl", "'calib_method: kl' is not supported for pof2s_tqt"),
        ("calib_percentile", "extends: fs, calib_percentile: 50", "'calib_percentile: 50.0' is not supported for fs"),
        ("replace_relu6", "extends: pof2s, replace_relu6: false", "'replace_relu6: false' is not supported for pof2s"),
        ("scale_all_avgpool", "extends: pof2s, simulate_dpu: false, scale_all_avgpool: false", "'scale_all_avgpool: false' is not supported for pof2s"),
        ("replace_sigmoid", "extends: pof2s, simulate_dpu: false, replace_sigmoid: true", "'replace_sigmoid: true' is not supported for pof2s"),
        ("keep_float_weight", "extends: fs, keep_float_weight: false", "'keep_float_weight: false' is not supported (yet) for fs"),
        ("method", "extends: fs, method: 0", "'method: 0' is not supported for fs"),
        ("nodes_bit", "extends: fs, nodes_bit: {a: 4}", "'nodes_bit: {a: 4}' is not supported (yet) for fs"),
        ("bias_bit", "extends: fs, bias_bit: 16", "'bias_bit: 16' is not supported (yet) for fs"),
        ("input_layers", "extends: fs, input_layers: [a]", "'input_layers: [a]' is not supported (yet) for fs"),
        ("output_layers", "extends: fsx, output_layers: [a]", "'output_layers: [a]' is not supported (yet) for fsx"),
        ("layers", "extends: fsx, layers: {Conv2D: {weight: {bit_width: 4}}}", "'layers: {Conv2D: {weight: {bit_width: 4}}}' is not supported (yet) for fsx"),
        ("input_method", "extends: fs, input_method: 1", "'input_method: 1' is not supported for fs"),
        ("nodes_method", "extends: fsx, nodes_method: {a: 0}", "'nodes_method: {a: 0}' is not supported for fsx"),
        ("align_concat", "extends: fs, align_concat: 2", "'align_concat: 2' is not supported for fs"),
        ("align_pool", "extends: fs, align_pool: 1", "'align_pool: 1' is not supported for fs"),
        ("align_rule", "extends: fs, align_rule: min", "'align_rule: min' is not supported for fs"),
        ("include_fast_ft", "extends: pof2s_tqt, include_fast_ft: true", "'include_fast_ft: true' is not supported (yet) for pof2s_tqt"),
        ("fast_ft_epochs", "extends: pof2s, fast_ft_epochs: 3", "'fast_ft_epochs: 3' is not supported for pof2s: it acts only with include_fast_ft: true"),
        ("include_bias_corr", "extends: fs, include_bias_corr: true", "'include_bias_corr: true' is not supported (yet) for fs"),
        ("adjust_shift_bias", "extends: fsx, adjust_shift_bias: 2", "'adjust_shift_bias: 2' is not supported for fsx"),
        ("adjust_shift_cut", "extends: fs, adjust_shift_cut: 0", "'adjust_shift_cut: 0' is not supported for fs"),
        ("weight", "extends: pof2s, weight: {scheme: fs}", "'weight.scheme: fs' is not supported for pof2s: a float-scale weight needs quantize_scheme fs or fsx"),
        ("bias", "extends: fsx, bias: {scheme: pof2s}", "'bias.scheme: pof2s' is not supported (yet) for fsx: float-scale strategies leave biases float"),
        ("activation", "extends: pof2s, activation: {round_mode: 0}", "'activation.round_mode: 0' is not supported (yet) for pof2s: DPU activations round half up (1)"),
        ("activation_symmetry", "extends: pof2s, activation_symmetry: false", "'activation_symmetry: false' is not supported for pof2s: power-of-two positions are symmetric"),
    ]

    static let refusedTargets: [(field: String, yaml: String, message: String)] = [
        ("deploy_format", "extends: DPUCZDX8G, deploy_format: xmodel", "'deploy_format: xmodel' is not supported for target 'bad': an xmodel is the Vitis AI compiler's output"),
        ("fingerprint", "extends: DPUCZDX8G, fingerprint: '0x1000020f6014407'", "'fingerprint: 0x1000020f6014407' is not supported for target 'bad'"),
        ("supported_ops", "extends: DPUCZDX8G, supported_ops: [conv2d, softmax_bf16]", "'supported_ops: softmax_bf16' is not supported for target 'bad': not a DPU operation"),
    ]

    /// Target fields that act (arch_type here; supported_ops in `inspect --target`, CLI tests) or
    /// are documentation.
    /// accepts: a cell its target cannot run is refused (StrategyDepthTests, PipelineTests).
    static let actingTargetFields: Set<String> = ["arch_type", "supported_ops", "deploy_format", "description", "accepts"]

    private var work = ""
    private var models: [String: QuantizeJob.Model] = [:]
    private var calibrations: [String: QuantizeJob.DataSet] = [:]

    override func setUpWithError() throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        work = NSTemporaryDirectory() + "vaiq-fields-\(UUID().uuidString)"
        try FileIO.createDirectories(work)
        func frozen(_ name: String, graph: String, checkpoint: String, outputs: [String]) throws -> String {
            let reader = try CheckpointReader(prefix: try CheckpointLocation.resolve(root.path + "/" + checkpoint).prefix)
            let result = try GraphFreezer.freeze(try GraphDefIO.read(root.path + "/" + graph), checkpoint: reader, outputNodes: outputs, graphPath: graph)
            let path = "\(work)/\(name).pb"
            try GraphDefIO.write(result.graph, to: path)
            return path
        }
        let digits = try frozen("digits", graph: "examples/digits/models/digits/inference_graph.pb",
                                checkpoint: "examples/digits/models/digits/train_dir", outputs: ["logits"])
        models["digits"] = .init(name: "digits", graph: .file(digits), inputNodes: ["input"], outputNodes: ["logits"], inputShapes: [[-1, 32, 32, 1]])
        calibrations["digits"] = .init(name: "c", inputs: ["input": .file(root.path + "/examples/digits/data/calib.npy")], batchSize: 20, iterations: 10)
        let allops = try frozen("allops", graph: "Tests/Fixtures/allops/inference_graph.pb", checkpoint: "Tests/Fixtures/allops/train_dir",
                                outputs: ["logits", "probs", "features"])
        models["allops"] = .init(name: "allops", graph: .file(allops), inputNodes: ["input"], outputNodes: ["logits", "probs", "features"],
                                 inputShapes: [[-1, 16, 16, 3]])
        calibrations["allops"] = .init(name: "c", inputs: ["input": .file(root.path + "/Tests/Fixtures/allops/input.npy")], batchSize: 1, iterations: 2)
        let sigmoid = root.path + "/Tests/Fixtures/ops/unary_sigmoid"
        models["sigmoid"] = .init(name: "sigmoid", graph: .file(sigmoid + "/model.pb"), inputNodes: ["x"], outputNodes: ["y"], inputShapes: [[-1, 5, 7, 3]])
        calibrations["sigmoid"] = .init(name: "c", inputs: ["x": .file(sigmoid + "/in_x.npy")], batchSize: 2, iterations: 1)
        try writeShiftModel()
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: work) }

    /// A 1x1 conv whose weights and input are tiny and whose bias is large (computed by a constant
    /// Mul, for fold_constant): the output position is far below the product's, so shift_cut and
    /// shift_bias both bind.
    private func writeShiftModel() throws {
        var g = GraphBuilder()
        g.placeholder("x", shape: [-1, 4, 4, 2])
        g.constant("w", [1e-5, -2e-5, 3e-5, 1e-5, -1e-5, 2e-5], shape: [1, 1, 2, 3])
        g.conv("conv", "x", "w")
        g.constant("b_half", [25, -20, 30], shape: [3])
        g.constant("two", [2], shape: [])
        g.op("b", "Mul", ["b_half", "two"])
        g.op("y", "BiasAdd", ["conv", "b"])
        let path = "\(work)/shift.pb"
        try GraphDefIO.write(g.graph, to: path)
        var input = [Float](repeating: 0, count: 4 * 4 * 4 * 2)
        for i in input.indices { input[i] = Float((i * 37) % 11 - 5) * 1e-4 }
        try FileIO.writeAtomically(NPY.encode(Tensor(input, shape: [4, 4, 4, 2])), to: "\(work)/shift_x.npy")
        models["shift"] = .init(name: "shift", graph: .file(path), inputNodes: ["x"], outputNodes: ["y"], inputShapes: [[-1, 4, 4, 2]])
        calibrations["shift"] = .init(name: "c", inputs: ["x": .file("\(work)/shift_x.npy")], batchSize: 2, iterations: 2)
    }

    /// Every output's bytes of one quantize.
    private func quantize(_ model: String, _ strategy: QuantizeStrategy, target: String = "DPUCZDX8G", tag: String) throws -> [String: [UInt8]] {
        let out = "\(work)/out/\(tag)"
        let job = QuantizeJob(name: tag, model: models[model]!, calibration: calibrations[model]!, strategy: strategy,
                              target: try BuiltinSettings.target(target), outputFolder: out)
        _ = try job.run(threads: 2, root: "/", cacheRoot: "\(work)/cache")
        var bytes: [String: [UInt8]] = [:]
        for m in job.chain.outputs { bytes[FileIO.baseName(m.path)] = try FileIO.read(m.path) }
        return bytes
    }

    private func strategy(_ base: String, _ overrides: [String: ParameterValue]) throws -> QuantizeStrategy {
        try BuiltinSettings.strategy(base, overrides: overrides.sorted { $0.key < $1.key }.map { ($0.key, $0.value, "--\($0.key)") })
    }

    func testEveryStrategyAndTargetKeyActsOrIsRefused() throws {
        let strategyFields = Set(ManifestFieldNames.strategy).subtracting(["description"])
        XCTAssertEqual(Set(StrategyField.all.map(\.name)), strategyFields, "the field table covers the manifest schema")
        let covered = Set(Self.acting.map(\.field))
        XCTAssertEqual(covered.union(Self.refused.map(\.field)), strategyFields, "every strategy key has a case")
        XCTAssertEqual(covered.union(["replace_softmax"]), strategyFields, "every key that can act is shown acting")
        XCTAssertEqual(Self.actingTargetFields.union(Self.refusedTargets.map(\.field)), Set(ManifestFieldNames.target))

        for c in Self.acting {
            let base = try strategy(c.base, c.baseOverrides)
            let variant = try strategy(c.base, c.baseOverrides.merging([c.field: c.value]) { _, v in v })
            XCTAssertNotEqual(base, variant, c.field)
            let a = try quantize(c.model, base, tag: "\(c.field)-base")
            let b = try quantize(c.model, variant, tag: "\(c.field)-variant")
            XCTAssertNotEqual(a, b, "\(c.field): \(yamlText(c.value)) changed no output byte on \(c.model)")
        }
        // arch_type: DPUCADF8H's activations saturate at -127.
        let pof2s = try strategy("pof2s", [:])
        XCTAssertNotEqual(try quantize("digits", pof2s, tag: "arch-default"), try quantize("digits", pof2s, target: "DPUCADF8H", tag: "arch-dpucadf8h"))
    }

    func testRefusedKeysNameTheirPlaceAtLoad() throws {
        for (field, yaml, message) in Self.refused {
            let repo = try repository(strategies: "  bad: {\(yaml)}\n")
            XCTAssertThrowsError(try Pipeline(root: repo), field) { error in
                XCTAssertTrue("\(error)".hasPrefix("manifests/m.yaml:2:"), "\(error)")
                XCTAssertTrue("\(error)".contains(message), "\(field): \(error)")
            }
        }
        for (field, yaml, message) in Self.refusedTargets {
            let repo = try repository(targets: "  bad: {\(yaml)}\n")
            XCTAssertThrowsError(try Pipeline(root: repo), field) { error in
                XCTAssertTrue("\(error)".hasPrefix("manifests/m.yaml:2:"), "\(error)")
                XCTAssertTrue("\(error)".contains(message), "\(field): \(error)")
            }
        }
    }

    func testMatrixAxisValueThatWouldNotActIsRefusedAtItsItem() throws {
        let repo = try repository(builds: "  - {model: m, calibration: c, matrix: {strategy: [fs], target: [cpu], align_pool: [0, 2]}}\n")
        XCTAssertThrowsError(try Pipeline(root: repo)) { error in
            XCTAssertTrue("\(error)".hasPrefix("manifests/m.yaml:8:88: 'align_pool: 2' is not supported for fs"), "\(error)")
        }
    }

    func testFlagsGoThroughTheSameTable() throws {
        XCTAssertThrowsError(try BuiltinSettings.strategy("pof2s", overrides: [("per_channel", .bool(true), "--per_channel")])) {
            XCTAssertTrue("\($0)".hasPrefix("--per_channel: 'per_channel: true' is not supported for pof2s"), "\($0)")
        }
        XCTAssertThrowsError(try ManifestFieldNames.parseStrategyFlag("weight_bit", "1", flag: "--weight_bit")) {
            XCTAssertEqual("\($0)", "--weight_bit: --weight_bit must be in 2...16; found 1")
        }
        XCTAssertEqual(try ManifestFieldNames.parseStrategyFlag("nodes_bit", "a:4,b:6", flag: "--nodes_bit"), .map(["a": .int(4), "b": .int(6)]))
        XCTAssertEqual(try ManifestFieldNames.parseStrategyFlag("ignore_nodes", "a, b", flag: "--ignore_nodes"), .list([.string("a"), .string("b")]))
        XCTAssertEqual(try ManifestFieldNames.parseStrategyFlag("do_cle", "1", flag: "--do_cle"), .bool(true))
    }

    func testBuiltinPof2sTF1ListsTheDefaults() throws {
        let builtin = try BuiltinSettings.manifest().strategies["pof2s_tf1"]!
        XCTAssertEqual(try QuantizeStrategy(settings: builtin.settings, origins: builtin.origins), QuantizeStrategy())
        XCTAssertEqual(Set(builtin.settings.keys).subtracting(["description"]), Set(StrategyField.all.map(\.name)))
    }

    /// A repository whose manifest adds `strategies`/`targets` entries (line 2 onwards).
    private func repository(strategies: String = "", targets: String = "", builds: String? = nil) throws -> String {
        let repo = "\(work)/repo-\(UUID().uuidString)"
        try FileIO.createDirectories("\(repo)/manifests")
        try FileIO.writeAtomically(try FileIO.read(models["shift"].map { if case .file(let p) = $0.graph { p } else { "" } }!), to: "\(repo)/m.pb")
        try FileIO.writeAtomically(try FileIO.read("\(work)/shift_x.npy"), to: "\(repo)/x.npy")
        var text = ""
        if !strategies.isEmpty { text += "strategies:\n" + strategies }
        if !targets.isEmpty { text += "targets:\n" + targets }
        if let builds {
            text += "models:\n  m: {graph: m.pb, input_nodes: [x], output_nodes: [y]}\n"
            text += "calibration:\n  c: {inputs: {x: x.npy}}\n"
            text += "strategies:\n  s: {extends: pof2s}\n"
            text += "builds:\n" + builds
        }
        try FileIO.writeAtomically(Array(text.utf8), to: "\(repo)/manifests/m.yaml")
        return repo
    }
}
