import Foundation
import XCTest

/// `vaiq-build run`: NumPy files in and out, and one clear line for each bad input.
final class RunCLITests: XCTestCase {
    let ops = "\(CLITests.repo)/Tests/Fixtures/ops"

    func vaiq(_ args: String...) throws -> CLITests.Run { try CLITests.run(args) }

    func testRunWritesNpyAndNpzAndPrintsASummary() throws {
        let dir = NSTemporaryDirectory() + "vaiq-run-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let model = "\(ops)/block_classifier"
        let r = try vaiq("run", "\(model)/model.pb", "--input", "\(model)/in_x.npy", "-o", "\(dir)/y.npy", "-j1")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "\(model)/model.pb: 1 output -> \(dir)/y.npy\n")
        // Same shape and dtype as TensorFlow's output, so the same header and size.
        let ours = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/y.npy")), theirs = try Data(contentsOf: URL(fileURLWithPath: "\(model)/out_y.npy"))
        XCTAssertEqual(ours.count, theirs.count)
        XCTAssertEqual(ours.prefix(128), theirs.prefix(128))
        // -j does not change a bit.
        XCTAssertEqual(try vaiq("run", "\(model)/model.pb", "--input", "x=\(model)/in_x.npy", "-o", "\(dir)/y2.npy", "-j2").status, 0)
        XCTAssertEqual(ours, try Data(contentsOf: URL(fileURLWithPath: "\(dir)/y2.npy")))
        let npz = try vaiq("run", "\(model)/model.pb", "--input", "x=\(model)/in_x.npy", "-o", "\(dir)/all.npz")
        XCTAssertEqual(npz.status, 0, npz.stderr)
        let summary = try vaiq("run", "\(model)/model.pb", "--input", "x=\(model)/in_x.npy")
        XCTAssertTrue(summary.stdout.hasPrefix("y: float32 [3, 10] min "), summary.stdout)
    }

    func testBadInputsGiveOneLineNamingTheInput() throws {
        let conv = "\(ops)/conv2d_0"
        let wrongShape = "\(ops)/conv2d_1/in_x.npy"
        var r = try vaiq("run", "\(conv)/model.pb", "--input", "x=\(wrongShape)")
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "error: node 'x' (Placeholder): input shape [3, 10, 11, 4] does not match the placeholder's shape [\"1\", \"9\", \"9\", \"3\"]\n")
        r = try vaiq("run", "\(conv)/model.pb", "--input", "z=\(conv)/in_x.npy")
        XCTAssertEqual(r.stderr, "error: --input z=\(conv)/in_x.npy: 'z' is not an input of \(conv)/model.pb (inputs: x)\n")
        let truncated = NSTemporaryDirectory() + "vaiq-truncated-\(UUID().uuidString).npy"
        try Data(contentsOf: URL(fileURLWithPath: "\(conv)/in_x.npy")).dropLast(8).write(to: URL(fileURLWithPath: truncated))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: truncated) }
        r = try vaiq("run", "\(conv)/model.pb", "--input", "x=\(truncated)")
        XCTAssertEqual(r.stderr, "error: \(truncated): truncated: shape [1, 9, 9, 3] of float32 needs 972 bytes of data, file has 964\n")
        r = try vaiq("run", "\(conv)/model.pb", "--input", "x=\(conv)/missing.npy")
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("error: \(conv)/missing.npy: "), r.stderr)
        r = try vaiq("run", "\(conv)/model.pb", "--input", "x=\(conv)/in_x.npy", "--outputs", "nope")
        XCTAssertEqual(r.stderr, "error: \(conv)/model.pb: output node 'nope' is not a node of the graph\n")
    }

    func testQuantizeThenDumpWritesIntegerFilesPerFixNeuron() throws {
        let dir = NSTemporaryDirectory() + "vaiq-dump-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let model = "\(ops)/block_residual"
        let q = try vaiq("quantize", "--input_frozen_graph", "\(model)/model.pb", "--input_nodes", "x", "--output_nodes", "y",
                         "--input_shapes", "2,9,9,6", "--calib_data", "x=\(model)/in_x.npy", "--calib_iter", "1", "--output_dir", dir)
        XCTAssertEqual(q.status, 0, q.stderr)
        for file in ["quantize_eval_model.pb", "quantize_eval_model_tf.pb", "quant_info.json", "quantize_train_graph.pb", "qat_inference_graph.pb"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/\(file)"), file)
        }
        let d = try vaiq("dump", "--input_frozen_graph", "\(dir)/quantize_eval_model.pb", "--calib_data", "x=\(model)/in_x.npy",
                         "--batch_size", "2", "--output_dir", "\(dir)/dump")
        XCTAssertEqual(d.status, 0, d.stderr)
        XCTAssertTrue(d.stdout.hasPrefix("dumped 4 weights and 4 activations x 1 batches"), d.stdout)
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/dump/dump_results_0").sorted()
        XCTAssertEqual(files.filter { $0.hasSuffix(".bin") }.count, 4, "\(files)")
        // One int8 per value, and the text form lists the same count.
        let input = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/dump/dump_results_0/x_aquant.bin"))
        XCTAssertEqual(input.count, 2 * 9 * 9 * 6)
        let text = try String(contentsOfFile: "\(dir)/dump/dump_results_0/x_aquant.txt", encoding: .utf8)
        XCTAssertEqual(text.split(separator: "\n").count, input.count)
        XCTAssertEqual(Int8(text.split(separator: "\n")[0]), Int8(bitPattern: input[0]))
        // The user guide's layout: _int8 names, batches from 1, floats without a suffix.
        let guide = try vaiq("dump", "--input_frozen_graph", "\(dir)/quantize_eval_model.pb", "--calib_data", "x=\(model)/in_x.npy",
                             "--batch_size", "2", "--naming", "guide", "--dump_float", "1", "--output_dir", "\(dir)/guide")
        XCTAssertEqual(guide.status, 0, guide.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/guide/dump_results_1/x_aquant_int8.bin"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/guide/dump_results_1/x_aquant.bin"))
        let bad = try vaiq("dump", "--input_frozen_graph", "\(model)/model.pb", "--calib_data", "x=\(model)/in_x.npy")
        XCTAssertEqual(bad.stderr, "error: \(model)/model.pb: no FixNeuron nodes; expected a quantize_eval_model.pb\n")
    }

    /// The ops fixture `name` quantized by the one-shot command into a scratch folder (removed after the test).
    private func quantized(_ name: String, shape: String) throws -> (model: String, dir: String) {
        let dir = NSTemporaryDirectory() + "vaiq-\(name)-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let model = "\(ops)/\(name)"
        let r = try vaiq("quantize", "--input_frozen_graph", "\(model)/model.pb", "--input_nodes", "x", "--output_nodes", "y",
                         "--input_shapes", shape, "--calib_data", "x=\(model)/in_x.npy", "--calib_iter", "1", "--output_dir", dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        return (model, dir)
    }

    /// TF node names contain '/', which a dump file name cannot: it becomes '_'. Two nodes that
    /// would share one file are an error naming both, and nothing is half-written.
    func testTwoNodesMappingToOneDumpFileAreAnError() throws {
        let (model, dir) = try quantized("block_residual", shape: "2,9,9,6")
        XCTAssertEqual(try vaiq("convert", "\(dir)/quantize_eval_model.pb", "-o", "\(dir)/eval.pbtxt").status, 0)
        var text = try String(contentsOfFile: "\(dir)/eval.pbtxt", encoding: .utf8)
        // Rename another activation FixNeuron to 'x_aquant', the file name of the input's 'x/aquant'.
        let names = text.components(separatedBy: "name: \"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        let weight = try XCTUnwrap(names.first { $0.hasSuffix("/aquant") && $0 != "x/aquant" })
        text = text.replacingOccurrences(of: "\"\(weight)\"", with: "\"x_aquant\"").replacingOccurrences(of: "\"\(weight):", with: "\"x_aquant:")
        try text.write(toFile: "\(dir)/clash.pbtxt", atomically: true, encoding: .utf8)
        let r = try vaiq("dump", "--input_frozen_graph", "\(dir)/clash.pbtxt", "--calib_data", "x=\(model)/in_x.npy",
                         "--batch_size", "2", "--output_dir", "\(dir)/dump")
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("error: \(dir)/clash.pbtxt: nodes '"), r.stderr)
        XCTAssertTrue(r.stderr.contains("both map to the dump file name 'x_aquant'; rename one\n"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/dump/dump_results_0"), "a failed dump writes nothing")
    }

    /// 16-bit activations dump as little-endian int16 (never clamped to 8 bits); weights stay int8.
    func testSixteenBitActivationsDumpAsInt16() throws {
        let model = "\(ops)/block_residual"
        let dir = NSTemporaryDirectory() + "vaiq-dump16-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(try vaiq("quantize", "--input_frozen_graph", "\(model)/model.pb", "--input_nodes", "x", "--output_nodes", "y",
                                "--input_shapes", "2,9,9,6", "--calib_data", "x=\(model)/in_x.npy", "--calib_iter", "1",
                                "--activation_bit", "16", "--target", "dpu-sim", "--output_dir", dir).status, 0)
        let d = try vaiq("dump", "--input_frozen_graph", "\(dir)/quantize_eval_model.pb", "--calib_data", "x=\(model)/in_x.npy",
                         "--batch_size", "2", "--naming", "guide", "--output_dir", "\(dir)/dump")
        XCTAssertEqual(d.status, 0, d.stderr)
        let bin = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/dump/dump_results_1/x_aquant_int16.bin"))
        XCTAssertEqual(bin.count, 2 * 2 * 9 * 9 * 6)
        let text = try String(contentsOfFile: "\(dir)/dump/dump_results_1/x_aquant_int16.txt", encoding: .utf8).split(separator: "\n")
        let first = Int16(bitPattern: UInt16(bin[0]) | UInt16(bin[1]) << 8)
        XCTAssertEqual(Int16(text[0]), first)
        XCTAssertTrue(text.contains { abs(Int($0)!) > 127 }, "16-bit values beyond int8's range")
        let weights = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/dump/dump_results_weights")
        XCTAssertTrue(weights.allSatisfy { !$0.contains("int16") } && weights.contains { $0.hasSuffix("_int8.bin") }, "\(weights)")
    }

    func testEvaluateReportsAccuracyAndSQNR() throws {
        let (model, dir) = try quantized("block_classifier", shape: "3,9,9,2")
        let labels = "\(dir)/labels.npy"
        // np.save of int64 [0, 1, 2]: the header, then the values.
        let header: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        var dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }"
        dict += String(repeating: " ", count: 64 - (10 + dict.utf8.count + 1) % 64) + "\n"
        let count = dict.utf8.count
        var bytes = header + [UInt8(count & 0xFF), UInt8(count >> 8)] + Array(dict.utf8)
        for v: Int64 in [0, 1, 2] { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        try Data(bytes).write(to: URL(fileURLWithPath: labels))
        let r = try vaiq("evaluate", "--quantized", "\(dir)/quantize_eval_model.pb", "--float", "\(model)/model.pb", "--input",
                         "x=\(model)/in_x.npy", "--labels", labels, "--output_nodes", "y", "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["samples"] as? Int, 3)
        XCTAssertGreaterThan(json["sqnrDB"] as? Double ?? 0, 10)
    }

    func testQuantizeBadInputsGiveOneLine() throws {
        let model = "\(ops)/conv2d_0"
        func quantize(_ extra: [String]) throws -> CLITests.Run {
            try CLITests.run(["quantize", "--input_frozen_graph", "\(model)/model.pb", "--output_nodes", "y", "--calib_iter", "1",
                              "--output_dir", NSTemporaryDirectory() + "vaiq-q-\(UUID().uuidString)"] + extra)
        }
        var r = try quantize(["--input_nodes", "nope", "--input_shapes", "1,9,9,3", "--calib_data", "nope=\(model)/in_x.npy"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "error: \(model)/model.pb: input node 'nope' is not a node of the graph\n")
        r = try quantize(["--input_nodes", "x", "--input_shapes", "1,9,9,3", "--calib_data", "z=\(model)/in_x.npy"])
        XCTAssertEqual(r.stderr, "error: --calib_data: 'z' is not one of --input_nodes (x)\n")
        r = try quantize(["--input_nodes", "x", "--input_shapes", "1,9,9,3:1,2", "--calib_data", "x=\(model)/in_x.npy"])
        XCTAssertEqual(r.stderr, "error: --input_shapes gives 2 shapes for 1 input nodes\n")
        r = try quantize(["--input_nodes", "x", "--input_shapes", "1,9,9,3", "--calib_data", "x=\(model)/in_x.npy", "--method", "3"])
        XCTAssertEqual(r.status, 2)
        r = try quantize(["--input_nodes", "x", "--input_shapes", "1,9,9,3", "--calib_data", "x=\(model)/missing.npy"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("error: \(model)/missing.npy: "), r.stderr)
    }
}
