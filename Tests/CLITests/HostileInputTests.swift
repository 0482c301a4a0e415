import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Tensors
import XCTest

/// Bad graphs, data and settings given to `quantize` and `evaluate`: each is one error line that
/// names the place (file, node, row), a non-zero exit and never a signal.
final class HostileInputTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "vaiq-hostile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var values: [Float] = []
        for k in 0..<(8 * 4 * 4 * 2) { values.append(Float((k * 37) % 23) / 11 - 1) }
        try write("x.npy", NPY.encode(Tensor(values, shape: [8, 4, 4, 2])))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/\(name)"))
    }

    func write(_ name: String, _ text: String) throws { try write(name, Array(text.utf8)) }

    // MARK: graph text

    static let float = #"attr { key: "T" value { type: DT_FLOAT } }"#
    static func placeholder(_ name: String = "x", dtype: String = "DT_FLOAT") -> String {
        #"node { name: "\#(name)" op: "Placeholder" attr { key: "dtype" value { type: \#(dtype) } } attr { key: "shape" value { shape { dim { size: -1 } dim { size: 4 } dim { size: 4 } dim { size: 2 } } } } }"#
    }
    static func const(_ name: String, _ shape: [Int], _ values: [String]) -> String {
        let dims = shape.map { "dim { size: \($0) }" }.joined(separator: " ")
        let vals = values.map { "float_val: \($0)" }.joined(separator: " ")
        return #"node { name: "\#(name)" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } } attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { \#(dims) } \#(vals) } } } }"#
    }
    static func node(_ name: String, _ op: String, _ inputs: [String], _ attrs: String = float) -> String {
        #"node { name: "\#(name)" op: "\#(op)" \#(inputs.map { "input: \"\($0)\"" }.joined(separator: " ")) \#(attrs) }"#
    }
    static let conv = float + #" attr { key: "strides" value { list { i: 1 i: 1 i: 1 i: 1 } } } attr { key: "padding" value { s: "SAME" } }"#
    static let weights = const("w", [3, 3, 2, 3], (0..<54).map { String(Float($0 % 7) / 7 - 0.4) })

    /// x -> conv (3 channels) -> relu -> mean over H, W -> dense 3 -> 5 = logits.
    static var classifier: String {
        [placeholder(), weights, node("conv", "Conv2D", ["x", "w"], conv), node("relu", "Relu", ["conv"]),
         #"node { name: "axes" op: "Const" attr { key: "dtype" value { type: DT_INT32 } } attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 2 } } int_val: 1 int_val: 2 } } } }"#,
         node("mean", "Mean", ["relu", "axes"], float + #" attr { key: "Tidx" value { type: DT_INT32 } } attr { key: "keep_dims" value { b: false } }"#),
         const("dense", [3, 5], (0..<15).map { String(Float($0 % 5) / 5 - 0.3) }),
         node("logits", "MatMul", ["mean", "dense"], float + #" attr { key: "transpose_a" value { b: false } } attr { key: "transpose_b" value { b: false } }"#)]
            .joined(separator: "\n")
    }

    var runs = 0
    var out: String { "\(dir)/out\(runs)" }

    func quantize(_ graph: String, output: String, _ extra: [String] = []) throws -> CLITests.Run {
        runs += 1
        try write("g.pbtxt", graph)
        return try CLITests.run(["quantize", "--input_frozen_graph", "\(dir)/g.pbtxt", "--input_nodes", "x", "--output_nodes", output,
                                 "--input_shapes", "?,4,4,2", "--calib_data", "x=\(dir)/x.npy", "--calib_iter", "2",
                                 "--output_dir", out] + extra)
    }

    /// One error line containing `expected`, exit status 1 (a signal would give another status), no outputs.
    func assertOneError(_ r: CLITests.Run, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("error: ") && r.stderr.contains(expected), r.stderr, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(out)/quantize_eval_model.pb"), file: file, line: line)
    }

    func testTheClassifierQuantizes() throws {
        let r = try quantize(Self.classifier, output: "logits")
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    // MARK: graphs `run` rejects: quantize rejects them with run's message

    func testConv2DBackpropInputWithTwoInputs() throws {
        let graph = [Self.placeholder(), Self.weights, Self.node("y", "Conv2DBackpropInput", ["w", "x"], Self.conv)].joined(separator: "\n")
        assertOneError(try quantize(graph, output: "y"), "\(dir)/g.pbtxt: node 'y': Conv2DBackpropInput expects 3 inputs, has 2")
    }

    func testDepthToSpaceWithNoInput() throws {
        let graph = [Self.placeholder(), Self.node("y", "DepthToSpace", [], Self.float + #" attr { key: "block_size" value { i: 2 } }"#),
                     Self.node("z", "AddV2", ["x", "y"])].joined(separator: "\n")
        assertOneError(try quantize(graph, output: "z"), "\(dir)/g.pbtxt: node 'y': DepthToSpace expects 1 inputs, has 0")
    }

    func testBatchNormWithMismatchedParameterLengths() throws {
        let bn = Self.node("bn", "FusedBatchNormV3", ["conv", "g", "b", "m", "v"],
                           Self.float + #" attr { key: "U" value { type: DT_FLOAT } } attr { key: "epsilon" value { f: 0.001 } } attr { key: "is_training" value { b: false } }"#)
        let graph = [Self.placeholder(), Self.weights, Self.node("conv", "Conv2D", ["x", "w"], Self.conv),
                     Self.const("g", [4], ["1"]), Self.const("b", [3], ["0"]), Self.const("m", [3], ["0"]), Self.const("v", [1], ["1"]), bn]
            .joined(separator: "\n")
        assertOneError(try quantize(graph, output: "bn"),
                       "\(dir)/g.pbtxt: node 'bn': batch-norm scale, offset, mean and variance hold 4, 3, 3, 1 values")
    }

    func testNaNAndInfWeights() throws {
        for bad in ["nan", "inf", "-inf"] {
            let graph = [Self.placeholder(), Self.const("w", [3, 3, 2, 3], ["0.5", bad]), Self.node("conv", "Conv2D", ["x", "w"], Self.conv)]
                .joined(separator: "\n")
            assertOneError(try quantize(graph, output: "conv"), "\(dir)/g.pbtxt: node 'w': holds \(bad) at element 1 (a parameter of 'conv'); weights, biases and batch-norm parameters must be finite")
        }
    }

    func testAStringInputIsRefused() throws {
        let graph = [Self.placeholder(dtype: "DT_STRING"), Self.node("y", "Identity", ["x"], #"attr { key: "T" value { type: DT_STRING } }"#)]
            .joined(separator: "\n")
        assertOneError(try quantize(graph, output: "y"), "\(dir)/g.pbtxt: node 'x': input node of type DT_STRING; quantize calibrates float32 inputs")
    }

    func testAnInputWithAnOutputIndexIsRefused() throws {
        try write("g.pbtxt", Self.classifier)
        let r = try CLITests.run(["quantize", "--input_frozen_graph", "\(dir)/g.pbtxt", "--input_nodes", "x:99", "--output_nodes", "logits",
                                  "--input_shapes", "?,4,4,2", "--calib_data", "x:99=\(dir)/x.npy", "--calib_iter", "2", "--output_dir", out])
        assertOneError(r, "\(dir)/g.pbtxt: input node 'x:99' is not a node of the graph")
    }

    /// Found by the quantize fuzz target: a pad of 50 million columns planned a 3.6 GB value.
    func testAValueOverTheLimitIsAnErrorNotAnAllocation() throws {
        let paddings = #"node { name: "p" op: "Const" attr { key: "dtype" value { type: DT_INT32 } } attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 4 } dim { size: 2 } } int_val: 0 int_val: 0 int_val: 1 int_val: 1 int_val: 0 int_val: 50331648 int_val: 0 int_val: 1 } } } }"#
        let graph = [Self.placeholder(), paddings, Self.const("c", [], ["0"]),
                     Self.node("pad", "PadV2", ["x", "p", "c"], Self.float + #" attr { key: "Tpaddings" value { type: DT_INT32 } }"#)].joined(separator: "\n")
        assertOneError(try quantize(graph, output: "pad"),
                       "node 'pad' (PadV2): its value of shape [4, 6, 50331652, 3] would take 14495515776 bytes, more than the 4096 MB one value may take (VAIQ_MAX_VALUE_MB raises it)")
    }

    // MARK: settings naming nothing

    func testUnknownNodeNamesInNodesBitAndIgnoreNodes() throws {
        assertOneError(try quantize(Self.classifier, output: "logits", ["--nodes_bit", "cnv:4", "--target", "dpu-sim"]),
                       "nodes_bit names 'cnv', not a node of the optimized graph (misspelled, or folded away by optimize); did you mean 'conv'?")
        assertOneError(try quantize(Self.classifier, output: "logits", ["--ignore_nodes", "relu9"]),
                       "ignore_nodes names 'relu9', not a node of the optimized graph (misspelled, or folded away by optimize); did you mean 'relu'?")
        assertOneError(try quantize(Self.classifier, output: "logits", ["--nodes_method", "zzzzzzzz:0"]),
                       "nodes_method names 'zzzzzzzz', not a node of the optimized graph (misspelled, or folded away by optimize)")
    }

    /// Exit status and peak RSS (KiB) of one run of the binary (posix_spawn + wait4: this child's own).
    func peakRSS(_ args: [String]) -> (status: Int32, kb: Int) {
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ([CLITests.binary] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, CLITests.binary, &actions, nil, argv, environ) == 0 else { return (-1, 0) }
        var status: Int32 = 0
        var usage = rusage()
        wait4(pid, &status, 0, &usage)
        return ((status >> 8) & 0xFF, usage.ru_maxrss)
    }

    /// One huge calibration value (1e6, 1e30) costs no memory: peak RSS within the clean run's + 100 MB.
    func testHugeCalibrationValuesCostNoMemory() throws {
        try write("g.pbtxt", Self.classifier)
        func run(_ extreme: Float?) throws -> (status: Int32, kb: Int) {
            var values: [Float] = []
            for k in 0..<(64 * 4 * 4 * 2) { values.append(Float((k * 37) % 23) / 11 - 1) }
            if let extreme { values[77] = extreme; values[901] = -extreme }
            try write("calib.npy", NPY.encode(Tensor(values, shape: [64, 4, 4, 2])))
            runs += 1
            return peakRSS(["quantize", "--input_frozen_graph", "\(dir)/g.pbtxt", "--input_nodes", "x", "--output_nodes", "logits",
                            "--input_shapes", "?,4,4,2", "--calib_data", "x=\(dir)/calib.npy", "--calib_iter", "8", "--output_dir", out])
        }
        let clean = try run(nil)
        XCTAssertEqual(clean.status, 0)
        for extreme: Float in [1e6, 1e30] {
            let r = try run(extreme)
            XCTAssertEqual(r.status, 0, "\(extreme)")
            XCTAssertLessThanOrEqual(r.kb, clean.kb + 100 * 1024, "\(extreme): \(r.kb) KiB against \(clean.kb) KiB")
        }
    }

    // MARK: labels

    func evaluate(labels: Tensor) throws -> CLITests.Run {
        try write("labels.npy", NPY.encode(labels))
        return try quantize(Self.classifier, output: "logits", ["--eval_data", "x=\(dir)/x.npy", "--eval_labels", "\(dir)/labels.npy"])
    }

    func testLabelsMustBeOneIntegerClassPerRow() throws {
        XCTAssertEqual(try evaluate(labels: Tensor([Int64](repeating: 2, count: 8), shape: [8])).status, 0)
        assertOneError(try evaluate(labels: Tensor([Int64](repeating: 2, count: 3), shape: [3])),
                       "\(dir)/labels.npy: 3 labels for 8 evaluation rows; expected one per row")
        assertOneError(try evaluate(labels: Tensor([Float](repeating: 2, count: 8), shape: [8])),
                       "\(dir)/labels.npy: labels are float32; expected integer class indices")
        assertOneError(try evaluate(labels: Tensor([Int32](repeating: 1, count: 7) + [5], shape: [8])),
                       "\(dir)/labels.npy: row 7: label 5 is not a class of output 'logits' (5 classes, 0-4)")
        assertOneError(try evaluate(labels: Tensor([Int32](repeating: 1, count: 7) + [-1], shape: [8])),
                       "\(dir)/labels.npy: row 7: label -1 is negative; expected a class index")
    }
}
