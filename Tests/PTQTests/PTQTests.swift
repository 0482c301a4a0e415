import Foundation
import GraphIR
@testable import PTQ
import Quantizer
import Runtime
import TFProto
import TensorFlowIO
import Tensors
import XCTest

final class PTQTests: XCTestCase {
    static let ops = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/ops").standardized.path

    func fixture(_ name: String) throws -> (Tensorflow_GraphDef, Tensor) { try Self.fixture(name) }
    func optimize(_ graph: Tensorflow_GraphDef, _ x: Tensor) throws -> Tensorflow_GraphDef { try Self.optimize(graph, x) }

    static func fixture(_ name: String) throws -> (Tensorflow_GraphDef, Tensor) {
        let graph = try GraphDefIO.read("\(Self.ops)/\(name)/model.pb")
        let x = try NPY.decode(Array(try Data(contentsOf: URL(fileURLWithPath: "\(Self.ops)/\(name)/in_x.npy"))), name: name)
        return (graph, x)
    }

    func run(_ graph: Tensorflow_GraphDef, _ x: Tensor) throws -> [Float] { try Self.run(graph, x) }
    static func run(_ graph: Tensorflow_GraphDef, _ x: Tensor) throws -> [Float] {
        let imported = try GraphImporter.importGraph(graph, outputs: ["y"], path: "m")
        return try Runtime(graph: imported.graph, outputs: [("y", imported.outputs[0])], options: PlanOptions(fuse: false))
            .run(["x": x])[0].tensor.floatValues()
    }

    static func optimize(_ graph: Tensorflow_GraphDef, _ x: Tensor) throws -> Tensorflow_GraphDef {
        try Optimizer.optimize(graph, OptimizeOptions(inputNodes: ["x"], outputNodes: ["y"], inputShapes: [x.shape]), path: "m")
    }

    func testOptimizedGraphsComputeTheSameOutputsWithBatchNormsFolded() throws {
        for name in ["block_conv_bn_relu6", "block_residual", "fusedbatchnormv3", "block_inverted_residual", "block_classifier"] {
            let (graph, x) = try fixture(name)
            let optimized = try optimize(graph, x)
            let a = try run(graph, x), b = try run(optimized, x)
            let scale = a.map(abs).max() ?? 1
            XCTAssertLessThanOrEqual(zip(a, b).map { abs($0 - $1) }.max() ?? 0, 1e-5 * scale, name)
            XCTAssertFalse(optimized.node.contains { $0.op.hasPrefix("FusedBatchNorm") && name != "fusedbatchnormv3" }, name)
            XCTAssertFalse(optimized.node.contains { $0.op == "Identity" && $0.name != "y" }, name)
        }
        // conv -> BN -> relu6: the BN's scale went into the weights, its offset became the bias.
        let (graph, x) = try fixture("block_conv_bn_relu6")
        let ops = try optimize(graph, x).node.map(\.op)
        XCTAssertEqual(ops.filter { $0 == "Mul" }.count, 0, "\(ops)")
        XCTAssertEqual(ops.filter { $0 == "BiasAdd" }.count, 1, "\(ops)")
    }

    /// Dropout left in an inference graph (tools/make_op_fixtures.py's three forms: a constant
    /// rate, a PlaceholderWithDefault rate, the older keep_prob + Floor): optimize removes it and
    /// the model computes what TensorFlow computes without it.
    func testOptimizeRemovesDropout() throws {
        for name in ["dropout_rate_const", "dropout_rate_placeholder", "dropout_keep_prob_floor"] {
            let (graph, x) = try fixture(name)
            XCTAssertTrue(graph.node.contains { $0.tfOp == .randomUniform }, name)
            let optimized = try optimize(graph, x)
            XCTAssertFalse(optimized.node.contains { $0.tfOp == .randomUniform || $0.tfOp == .floor || $0.tfOp == .greaterEqual }, name)
            let expected = try NPY.decode(Array(try Data(contentsOf: URL(fileURLWithPath: "\(Self.ops)/\(name)/out_y.npy"))), name: name).floatValues()
            let ours = try run(optimized, x)
            let scale = expected.map(abs).max() ?? 1
            XCTAssertLessThanOrEqual(zip(ours, expected).map { abs($0 - $1) }.max() ?? .infinity, 1e-5 * scale, name)
        }
    }

    /// Swish / SiLU (x * sigmoid(x); tf.nn.silu's IdentityN removed by optimize): the product and
    /// the sigmoid are quantized, as the reference's swish pattern does.
    func testLocateQuantizesSwish() throws {
        for name in ["unary_swish", "unary_silu"] {
            let (graph, x) = try fixture(name)
            let optimized = try optimize(graph, x)
            let plan = Locator.locate(optimized, QuantizeConfig())
            let sigmoid = try XCTUnwrap(optimized.node.first { $0.tfOp == .sigmoid }, name)
            let product = try XCTUnwrap(optimized.node.first { $0.tfOp == .mul && $0.input.contains(sigmoid.name) }, name)
            XCTAssertNotNil(plan.index(of: sigmoid.name), "\(name): \(plan.tensors.map(\.node))")
            XCTAssertNotNil(plan.index(of: product.name), "\(name): \(plan.tensors.map(\.node))")
        }
    }

    func testLocateFindsTheConvPatternAndItsGroup() throws {
        let (graph, x) = try fixture("block_conv_bn_relu6")
        let optimized = try optimize(graph, x)
        let plan = Locator.locate(optimized, QuantizeConfig())
        let kinds = plan.tensors.map { "\($0.kind.rawValue):\($0.mode.rawValue):\($0.method.rawValue)" }
        XCTAssertEqual(kinds, ["activation:1:0", "weight:0:1", "bias:0:1", "activation:1:1"], "\(plan.tensors)")
        XCTAssertEqual(plan.groups.count, 1)
        XCTAssertEqual(plan.groups[0].input, "x")
        // Ignoring the conv leaves only the input quantized.
        var config = QuantizeConfig()
        config.ignoreNodes = [plan.groups[0].compute]
        XCTAssertEqual(Locator.locate(optimized, config).tensors.map(\.node), ["x"])
        // nodes_bit on the compute node sets its weights' bit width.
        config = QuantizeConfig()
        config.nodesBit = [plan.groups[0].compute: 4]
        XCTAssertEqual(Locator.locate(optimized, config).tensors[1].bitWidth, 4)
        // input_method: the graph input's method (vai_q's non-overflow by default); nodes_method still wins.
        config = QuantizeConfig()
        config.inputMethod = .minDiffs
        XCTAssertEqual(Locator.locate(optimized, config).tensors.map(\.method.rawValue), [1, 1, 1, 1])
        config.nodesMethod = ["x": 0]
        XCTAssertEqual(Locator.locate(optimized, config).tensors[0].method, .nonOverflow)
    }

    func testShiftCutAndShiftBiasMoveTheWeightAndBiasPositions() throws {
        let (graph, x) = try fixture("block_conv_bn_relu6")
        let optimized = try optimize(graph, x)
        var plan = Locator.locate(optimized, QuantizeConfig())
        // input 7, weights 12, bias 30, output 0: shift_cut = 19 > 16 and the bias shift is far too low.
        for (i, p) in [7, 12, 30, 0].enumerated() { plan.tensors[i].position = p }
        let adjusted = PostTrainingQuantizer.adjust(plan, graph: optimized, config: QuantizeConfig(), outputNodes: ["y"])
        XCTAssertEqual(adjusted.tensors.map(\.position), [7, 9, 16, 0])
        XCTAssertEqual(adjusted.tensors[1].adjustedBy.count, 1)
        XCTAssertTrue(adjusted.tensors[1].adjustedBy[0].hasPrefix("shift_cut("), "\(adjusted.tensors[1].adjustedBy)")
        XCTAssertTrue(adjusted.tensors[2].adjustedBy[0].hasPrefix("shift_bias("), "\(adjusted.tensors[2].adjustedBy)")
        var off = QuantizeConfig()
        off.adjustShiftCut = false
        off.adjustShiftBias = 0
        XCTAssertEqual(PostTrainingQuantizer.adjust(plan, graph: optimized, config: off, outputNodes: ["y"]).tensors.map(\.position), [7, 12, 30, 0])
    }

    func testAlignConcatGivesTheInputsTheConcatsPosition() throws {
        let (graph, x) = try fixture("block_concat_branches")
        let optimized = try optimize(graph, x)
        let located = Locator.locate(optimized, QuantizeConfig())
        let statistics = try PostTrainingQuantizer.calibrate(optimized, outputNodes: ["y"], batches: [["x": x]], threads: 1, path: "m")
        let plan = try PostTrainingQuantizer.positions(located, graph: optimized, statistics: statistics, narrowActivations: false, path: "m")
        let adjusted = PostTrainingQuantizer.adjust(plan, graph: optimized, config: QuantizeConfig(), outputNodes: ["y"])
        let concat = try XCTUnwrap(optimized.node.first { $0.op == "ConcatV2" })
        let p = adjusted.tensors.first { $0.node == concat.name }!.position
        for input in concat.input.dropLast() {
            XCTAssertEqual(adjusted.tensors.first { $0.node == input && $0.kind == .activation }?.position, p, input)
        }
        var none = QuantizeConfig()
        none.alignConcat = 2
        XCTAssertEqual(PostTrainingQuantizer.adjust(plan, graph: optimized, config: none, outputNodes: ["y"]).tensors.map(\.position),
                       plan.tensors.map(\.position))
    }

    /// align_rule min: a concat and its inputs share the smallest of their positions, so no value
    /// of any of them falls outside the shared range (tf1 copies the output's, which clips the
    /// input with the wider range).
    func testTheMinAlignRuleNeverClipsAConcat() throws {
        let (graph, x) = try fixture("block_concat_branches")
        let optimized = try optimize(graph, x)
        var config = QuantizeConfig()
        config.method = .nonOverflow
        let located = Locator.locate(optimized, config)
        let statistics = try PostTrainingQuantizer.calibrate(optimized, outputNodes: ["y"], batches: [["x": x]], threads: 1, path: "m")
        var plan = try PostTrainingQuantizer.positions(located, graph: optimized, statistics: statistics, narrowActivations: false, path: "m")
        let concat = try XCTUnwrap(optimized.node.first { $0.op == "ConcatV2" })
        let members = [concat.name] + concat.input.dropLast()
        let index = try members.map { name in try XCTUnwrap(plan.tensors.firstIndex { $0.node == name && $0.kind == .activation }, name) }
        // Widen one input's range (a smaller position) and narrow the output's: under tf1 the input clips.
        let wide = plan.tensors[index[1]].position! - 3
        plan.tensors[index[1]].position = wide
        plan.tensors[index[0]].position = plan.tensors[index[0]].position! + 1
        let ranges = members.map { name in statistics.tensors[name]![0] }
        plan.tensors[index[1]].position = wide
        func clipped(_ p: QuantizePlan) -> [String] {
            zip(members, zip(index, ranges)).compactMap { name, ir in
                let position = p.tensors[ir.0].position!
                let step = Float(sign: .plus, exponent: -position, significand: 1)
                return ir.1.max > 127.5 * step || ir.1.min < -128.5 * step ? name : nil
            }
        }
        config.alignRule = .tf1
        let tf1 = PostTrainingQuantizer.adjust(plan, graph: optimized, config: config, outputNodes: ["y"])
        XCTAssertEqual(Set(index.map { tf1.tensors[$0].position }), [plan.tensors[index[0]].position])
        XCTAssertFalse(clipped(tf1).isEmpty, "the constructed concat clips under tf1")
        config.alignRule = .min
        let aligned = PostTrainingQuantizer.adjust(plan, graph: optimized, config: config, outputNodes: ["y"])
        XCTAssertEqual(Set(index.map { aligned.tensors[$0].position }), [wide])
        XCTAssertEqual(clipped(aligned), [])
        XCTAssertTrue(aligned.tensors[index[0]].adjustedBy.contains { $0.hasPrefix("align_concat(") })
    }

    func testEvalModelCarriesFixNeuronsAndUnknownNodesAreErrors() throws {
        let (graph, x) = try fixture("block_residual")
        let optimized = try optimize(graph, x)
        var plan = Locator.locate(optimized, QuantizeConfig())
        for i in plan.tensors.indices { plan.tensors[i].position = 5 }
        let model = PostTrainingQuantizer.evalModel(optimized, plan: plan)
        let fixes = model.node.filter { $0.op == "FixNeuron" }
        XCTAssertEqual(fixes.count, plan.tensors.count)
        XCTAssertEqual(fixes.filter { $0.name.hasSuffix("/aquant") }.count, plan.tensors.filter { $0.kind == .activation }.count)
        XCTAssertTrue(fixes.allSatisfy { $0.attr["phase"]?.i == 1 && $0.attr["quantize_pos"]?.i == 5 && $0.attr["bit_width"]?.i == 8 })
        // Every consumer reads the FixNeuron, not the float tensor.
        for t in plan.tensors {
            let readers = model.node.filter { $0.input.contains(t.node) }.map(\.name)
            XCTAssertEqual(readers, [t.fixNeuronName], t.node)
        }
        XCTAssertThrowsError(try Optimizer.optimize(graph, OptimizeOptions(inputNodes: ["nope"], outputNodes: ["y"], inputShapes: [[1]]), path: "m.pb")) {
            XCTAssertEqual("\($0)", "m.pb: input node 'nope' is not a node of the graph")
        }
    }
}

final class DeployTests: XCTestCase {
    func testDeployModelFoldsFixNeuronsIntoAttributesAndConvsAbsorbTheirWeights() throws {
        let (graph, x) = try PTQTests.fixture("block_conv_bn_relu6")
        let optimized = try PTQTests.optimize(graph, x)
        var plan = Locator.locate(optimized, QuantizeConfig())
        for (i, p) in [6, 7, 5, 4].enumerated() { plan.tensors[i].position = p }
        let deploy = try Deployer.deployModel(PostTrainingQuantizer.evalModel(optimized, plan: plan), path: "m")
        XCTAssertFalse(deploy.node.contains { $0.op == "FixNeuron" || $0.op == "BiasAdd" })
        let conv = try XCTUnwrap(deploy.node.first { $0.op == "Conv2D" })
        XCTAssertEqual(conv.input, ["x"])
        XCTAssertEqual(conv.attr["wpos"]?.list.i, [8, 7])
        XCTAssertEqual(conv.attr["bpos"]?.list.i, [8, 5])
        XCTAssertEqual(conv.attr["ipos"]?.list.i, [8, 6])
        XCTAssertNotNil(conv.attr["weights"]?.tensor)
        // Every node carries its output shape at batch 1 (conv: stride 2, 8 filters).
        for node in deploy.node { XCTAssertEqual(node.attr["_output_shapes"]?.list.shape.count, 1, node.name) }
        XCTAssertEqual(conv.attr["_output_shapes"]?.list.shape.first?.dims, [1, 8, 8, 8])
        let relu = try XCTUnwrap(deploy.node.first { $0.op == "Relu6" })
        XCTAssertEqual(relu.attr["opos"]?.list.i, [8, 4])
        // Weights inside the conv are the quantized values: integers times 2^-7.
        let w: [Float] = try TensorProtoCodec.decode(conv.attr["weights"]!.tensor, context: "w").floatValues()
        let integers = w.map { $0 * 128 }
        XCTAssertTrue(integers.allSatisfy { $0.rounded() == $0 && abs($0) <= 128 })
        let placeholder = try XCTUnwrap(deploy.node.first { $0.op == "Placeholder" })
        if case let .shape(s)? = placeholder.attr["shape"]?.value { XCTAssertEqual(s.dims?.first, 1) } else { XCTFail("no shape") }
    }
}

final class DPUSimulationTests: XCTestCase {
    func testAvgPoolFactorsMatchTheSpec() {
        XCTAssertEqual(DPUSimulation.avgPoolScale(kh: 3, kw: 3, all: false), 63.0 / 64)
        XCTAssertEqual(DPUSimulation.avgPoolScale(kh: 7, kw: 7, all: false), 1029.0 / 1024)
        XCTAssertEqual(DPUSimulation.avgPoolScale(kh: 2, kw: 2, all: true), 1)
        XCTAssertEqual(DPUSimulation.avgPoolScale(kh: 10, kw: 10, all: true), 4100.0 / 4096)
        XCTAssertNil(DPUSimulation.avgPoolScale(kh: 10, kw: 10, all: false))
        // A Mean over an empty spatial axis becomes a pool of height 0 (found by the quantize fuzz
        // target, fuzz/corpus/quantize/crash-avgpool-ksize-zero): no scale, no trap on log2(0).
        XCTAssertNil(DPUSimulation.avgPoolScale(kh: 0, kw: 5, all: true))
        XCTAssertNil(DPUSimulation.avgPoolScale(kh: -3, kw: 5, all: true))
    }

    func testMeanBecomesAScaledAvgPoolAndLeakyAlphaBecomes26Over256() throws {
        let (graph, x) = try PTQTests.fixture("mean_spatial")
        let optimized = try PTQTests.optimize(graph, x)
        let ops = optimized.node.map(\.op)
        XCTAssertTrue(ops.contains("AvgPool") && ops.contains("Squeeze") && !ops.contains("Mean"), "\(ops)")
        let pool = try XCTUnwrap(optimized.node.first { $0.op == "AvgPool" })
        XCTAssertEqual(pool.attr["ksize"]?.list.i, [1, 7, 9, 1])
        XCTAssertTrue(optimized.node.contains { $0.name == "\(pool.name)/mul" })
        let (leaky, lx) = try PTQTests.fixture("unary_leakyrelu")
        let alpha = try PTQTests.optimize(leaky, lx).node.first { $0.op == "LeakyRelu" }?.attr["alpha"]?.f
        XCTAssertEqual(alpha, 26.0 / 256)
        // simulate_dpu 0 leaves the graph as TensorFlow computes it.
        var options = OptimizeOptions(inputNodes: ["x"], outputNodes: ["y"], inputShapes: [x.shape])
        options.rewrites.simulateDPU = false
        XCTAssertTrue(try Optimizer.optimize(graph, options, path: "m").node.contains { $0.op == "Mean" })
    }
}

final class CrossLayerEqualizationTests: XCTestCase {
    func testEqualizationKeepsTheFunctionAndBalancesTheRanges() throws {
        let (graph, x) = try PTQTests.fixture("block_residual")
        var options = OptimizeOptions(inputNodes: ["x"], outputNodes: ["y"], inputShapes: [x.shape])
        let plain = try Optimizer.optimize(graph, options, path: "m")
        options.rewrites.doCLE = true
        let equalized = try Optimizer.optimize(graph, options, path: "m")
        let a = try PTQTests.run(plain, x), b = try PTQTests.run(equalized, x)
        let scale = a.map(abs).max()!
        XCTAssertLessThanOrEqual(zip(a, b).map { abs($0 - $1) }.max()!, 1e-5 * scale)
        // The two convs' per-channel ranges (head output channel, tail input channel) now agree.
        let convs = equalized.node.filter { $0.op == "Conv2D" }
        XCTAssertEqual(convs.count, 2)
        let edit = GraphEdit(equalized, path: "m")
        let head = edit.constant(edit.inputs(of: convs[0])[1])!, tail = edit.constant(edit.inputs(of: convs[1])[1])!
        let c = head.shape[3]
        var r1 = [Float](repeating: 0, count: c), r2 = r1
        for (k, v) in head.floatValues().enumerated() { r1[k % c] = max(r1[k % c], abs(v)) }
        let bias = edit.constant(edit.inputs(of: edit.nodes.first { edit.inputs(of: $0).first == convs[0].name }!)[1])!.floatValues()
        for (k, v) in bias.enumerated() { r1[k] = max(r1[k], abs(v)) }
        for (k, v) in tail.floatValues().enumerated() { r2[(k / tail.shape[3]) % c] = max(r2[(k / tail.shape[3]) % c], abs(v)) }
        for ch in 0..<c where r1[ch] + r2[ch] >= 0.5 { XCTAssertEqual(r1[ch], r2[ch], accuracy: 1e-3 * max(r1[ch], 1), "channel \(ch)") }
    }
}

final class DPUSimulationIdempotenceTests: XCTestCase {
    /// A graph vaiq-build already rewrote (a QAT model's inference graph) is not rewritten twice.
    func testSimulatingTwiceChangesNothing() throws {
        for name in ["avgpool_4", "mean_spatial", "unary_hardsigmoid", "block_squeeze_excite"] {
            let (graph, x) = try PTQTests.fixture(name)
            let once = try PTQTests.optimize(graph, x)
            let twice = try PTQTests.optimize(once, x)
            XCTAssertEqual(once.node.map(\.name).sorted(), twice.node.map(\.name).sorted(), name)
            XCTAssertEqual(Set(twice.node.map(\.name)).count, twice.node.count, "\(name): duplicate names")
        }
    }
}

final class DynamicShiftBiasTests: XCTestCase {
    func testDynamicBoundComesFromTheReductionLength() throws {
        let (graph, x) = try PTQTests.fixture("block_conv_bn_relu6")   // 3x3x3 filter: length 27, bound min(0, 5 - 16) = -11
        let optimized = try PTQTests.optimize(graph, x)
        var plan = Locator.locate(optimized, QuantizeConfig())
        for (i, p) in [7, 9, 30, 4].enumerated() { plan.tensors[i].position = p }
        var config = QuantizeConfig()
        config.adjustShiftBias = 2
        config.adjustShiftCut = false
        // shift_bias = 9 + 7 - 30 = -14 < -11: bpos := 9 + 7 + 11 = 27.
        XCTAssertEqual(PostTrainingQuantizer.adjust(plan, graph: optimized, config: config, outputNodes: ["y"]).tensors[2].position, 27)
        let edit = GraphEdit(optimized, path: "m")
        XCTAssertEqual(PostTrainingQuantizer.reductionLength(edit, plan.groups[0]), 27)
    }
}

final class AuxiliaryGraphTests: XCTestCase {
    /// Post-processing outside input..output nodes stays in the written model, in float, reading
    /// the quantized output; the deploy model keeps only the quantized range.
    func testPostProcessingIsKeptInFloatAroundTheQuantizedRange() throws {
        let (graph, x) = try PTQTests.fixture("block_classifier")
        let options = OptimizeOptions(inputNodes: ["x"], outputNodes: ["BiasAdd"], inputShapes: [x.shape])
        let optimized = try Optimizer.optimize(graph, options, path: "m")
        XCTAssertFalse(optimized.node.contains { $0.op == "Softmax" })
        let aux = try Optimizer.auxiliary(graph, options, path: "m")
        XCTAssertEqual(Set(aux.node.map(\.name)), ["Softmax", "y"])
        var plan = Locator.locate(optimized, QuantizeConfig())
        for i in plan.tensors.indices { plan.tensors[i].position = 4 }
        let eval = PostTrainingQuantizer.evalModel(PostTrainingQuantizer.merge(optimized, aux: aux), plan: plan)
        let softmax = try XCTUnwrap(eval.node.first { $0.op == "Softmax" })
        XCTAssertEqual(softmax.input, ["BiasAdd/aquant"])
        let range = try Optimizer.cut(eval, inputs: ["x"], outputs: ["BiasAdd"], path: "m")
        XCTAssertFalse(range.node.contains { $0.op == "Softmax" })
        // A sink waiting on nodes that optimizing folded away (Keras ends frozen graphs in a NoOp
        // on every ReadVariableOp) keeps only its control inputs on nodes still present.
        var withSink = graph
        let layer = try XCTUnwrap(withSink.node.firstIndex { ["Conv2D", "MatMul"].contains($0.op) })
        var read = Tensorflow_NodeDef()
        read.name = "weights_read"
        read.op = "Identity"
        read.input = [withSink.node[layer].input[1]]
        read.attr["T"] = attrType(.dtFloat)
        withSink.node[layer].input[1] = read.name
        withSink.node.insert(read, at: layer)
        var sink = Tensorflow_NodeDef()
        sink.name = "sink"
        sink.op = "NoOp"
        sink.input = ["^weights_read", "^BiasAdd"]
        withSink.node.append(sink)
        let optimizedWithSink = try Optimizer.optimize(withSink, options, path: "m")
        XCTAssertFalse(optimizedWithSink.node.contains { $0.name == "weights_read" })
        let auxWithSink = try Optimizer.auxiliary(withSink, options, path: "m")
        let merged = PostTrainingQuantizer.evalModel(PostTrainingQuantizer.merge(optimizedWithSink, aux: auxWithSink), plan: plan)
        XCTAssertEqual(merged.node.first { $0.name == "sink" }?.input, ["^BiasAdd"])
        let names = Set(merged.node.map(\.name))
        for node in merged.node {
            for input in node.input { XCTAssertTrue(names.contains(TensorName(input).node), "\(node.name) reads missing \(input)") }
        }
        // Nothing outside: merging is the identity.
        let whole = try Optimizer.auxiliary(graph, OptimizeOptions(inputNodes: ["x"], outputNodes: ["y"], inputShapes: [x.shape]), path: "m")
        XCTAssertEqual(whole.node.count, 0)
    }
}

/// Keras-exported graphs compute conv biases and batch-norm factors from the variables at run
/// time (Reshape/Squeeze of the bias, Rsqrt(var + eps) * gamma, beta - mean * factor). Constant
/// folding turns those into constants, the scale folds into the weights and the offset joins the
/// conv's bias: one Conv2D and one bias add remain, computing the same outputs.
final class ConstantFoldingTests: XCTestCase {
    func node(_ name: String, _ op: String, _ inputs: [String] = [], _ attrs: [String: Tensorflow_AttrValue] = [:]) -> Tensorflow_NodeDef {
        var n = Tensorflow_NodeDef()
        n.name = name
        n.op = op
        n.input = inputs
        n.attr = attrs
        if n.attr["T"] == nil && !["Const", "Placeholder"].contains(op) { n.attr["T"] = attrType(.dtFloat) }
        return n
    }

    func const(_ name: String, _ values: [Float], _ shape: [Int]) -> Tensorflow_NodeDef {
        node(name, "Const", [], ["dtype": attrType(.dtFloat), "value": attrTensor(Tensor(values, shape: shape))])
    }

    func testIdentityChainsAndIdentityNOutputsAreBypassed() {
        var g = GraphEdit(Tensorflow_GraphDef(), path: "m")
        g.nodes = [node("x", "Placeholder"), node("i1", "Identity", ["x"]), node("i2", "IdentityN", ["i1", "^x"]),
                   node("kept", "Identity", ["i2:1"]), node("relu", "Relu", ["i2:1"]), node("y", "Identity", ["relu"])]
        Optimizer.removeIdentities(&g, keep: ["kept", "y"])
        XCTAssertEqual(g.nodes.map(\.name), ["x", "kept", "relu", "y"])
        XCTAssertEqual(g.nodes.map(\.input), [[], ["x"], ["x"], ["relu"]])
    }

    func testKerasStyleBiasAndBatchNormFoldIntoOneConv() throws {
        var ints = Tensorflow_AttrValue()
        ints.list.i = [1, 1, 1, 1]
        var shape = Tensorflow_AttrValue()
        shape.shape.dim = [-1, 6, 6, 3].map { (size: Int) -> Tensorflow_TensorShapeProto.Dim in
            var d = Tensorflow_TensorShapeProto.Dim()
            d.size = Int64(size)
            return d
        }
        let w: [Float] = (0..<108).map { (i: Int) -> Float in Float((i * 7) % 11 - 5) / 10 }
        let bShape: Tensorflow_NodeDef = node("b_shape", "Const", [], ["dtype": attrType(.dtInt32), "value": attrTensor(Tensor([Int32(1), 4], shape: [2]))])
        var nodes: [Tensorflow_NodeDef] = [node("x", "Placeholder", [], ["dtype": attrType(.dtFloat), "shape": shape])]
        nodes.append(const("w", w, [3, 3, 3, 4]))
        nodes.append(node("w_read", "Identity", ["w"]))
        nodes.append(node("conv", "Conv2D", ["x", "w_read"], ["strides": ints, "padding": attrString("SAME")]))
        nodes.append(const("b", [0.1, -0.2, 0.3, 0.05], [4]))
        nodes.append(node("b_read", "Identity", ["b"]))
        nodes.append(node("b_reshape", "Reshape", ["b_read", "b_shape"], ["Tshape": attrType(.dtInt32)]))
        nodes.append(bShape)
        nodes.append(node("b_squeeze", "Squeeze", ["b_reshape"]))
        nodes.append(node("bias", "BiasAdd", ["conv", "b_squeeze"]))
        nodes.append(const("variance", [0.5, 2, 1, 0.25], [4]))
        nodes.append(const("eps", [0.001], []))
        nodes.append(const("gamma", [1.5, 0.5, -1, 2], [4]))
        nodes.append(const("mean", [0.2, -0.1, 0, 0.4], [4]))
        nodes.append(const("beta", [0, 0.3, -0.2, 0.1], [4]))
        nodes.append(node("bn/add", "AddV2", ["variance", "eps"]))
        nodes.append(node("bn/rsqrt", "Rsqrt", ["bn/add"]))
        nodes.append(node("bn/mul", "Mul", ["bn/rsqrt", "gamma"]))
        nodes.append(node("bn/mul_1", "Mul", ["bias", "bn/mul"]))
        nodes.append(node("bn/mul_2", "Mul", ["mean", "bn/mul"]))
        nodes.append(node("bn/sub", "Sub", ["beta", "bn/mul_2"]))
        nodes.append(node("bn/add_1", "AddV2", ["bn/mul_1", "bn/sub"]))
        nodes.append(node("relu", "Relu", ["bn/add_1"]))
        nodes.append(node("y", "Identity", ["relu"]))
        var graph = Tensorflow_GraphDef()
        graph.node = nodes
        let xValues: [Float] = (0..<216).map { (i: Int) -> Float in Float((i * 13) % 17 - 8) / 8 }
        let x = Tensor(xValues, shape: [2, 6, 6, 3])
        let optimized = try PTQTests.optimize(graph, x)
        let ops: [String] = optimized.node.map { $0.op }
        XCTAssertEqual(ops.filter { $0 == "Conv2D" }.count, 1, "\(ops)")
        XCTAssertEqual(ops.filter { ["BiasAdd", "AddV2", "Add"].contains($0) }.count, 1, "\(ops)")
        XCTAssertFalse(ops.contains { ["Mul", "Rsqrt", "Sub", "Reshape", "Squeeze"].contains($0) }, "\(ops)")
        let a = try PTQTests.run(graph, x), b = try PTQTests.run(optimized, x)
        let scale = a.map(abs).max() ?? 1
        XCTAssertLessThanOrEqual(zip(a, b).map { abs($0 - $1) }.max() ?? 0, 1e-5 * scale)
        // With folding off, the bias chain stays as it is.
        var options = OptimizeOptions(inputNodes: ["x"], outputNodes: ["y"], inputShapes: [x.shape])
        options.rewrites.foldConstant = false
        XCTAssertTrue(try Optimizer.optimize(graph, options, path: "m").node.contains { $0.op == "Squeeze" })
    }
}
