import Foundation
import XCTest

/// End-to-end tests of the `vaiq-build` binary: whole stderr lines and exit codes.
final class CLITests: XCTestCase {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static let repo: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static let binary: String = {
        if let env = ProcessInfo.processInfo.environment["VAIQ_BUILD_BIN"] { return env }
        // The test bundle sits next to the products in .build/<config>/.
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        return "\(dir)/vaiq-build"
    }()

    func run(_ args: [String]) throws -> Run { try Self.run(args) }

    static func run(_ args: [String], environment: [String: String] = [:]) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = args
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func fixture(_ model: String) throws -> String {
        let dir = NSTemporaryDirectory() + "vaiq-cli-\(model)-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: "\(CLITests.repo)/Tests/Fixtures/\(model)", toPath: dir)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func assertFails(_ args: [String], stderr expected: String, status: Int32 = 1,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try run(args)
        XCTAssertEqual(r.status, status, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr, expected + "\n", file: file, line: line)
    }

    func testFreezeWritesAGraphAndReportsWhatItDid() throws {
        let dir = try fixture("allops")
        let r = try run(["freeze", "--graph", "\(dir)/inference_graph.pb", "--checkpoint", "\(dir)/train_dir",
                         "--output_nodes", "logits,probs", "-o", "\(dir)/frozen.pb"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("froze 24 variables from \(dir)/train_dir/model.ckpt-2; "), r.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/frozen.pb"))
    }

    func testTruncatedGraph() throws {
        let dir = try fixture("allops")
        let path = "\(dir)/inference_graph.pb"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        let r = try run(["inspect", path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr == "error: \(path): not a valid binary GraphDef (the file is truncated); expected a TensorFlow .pb file\n"
                      || r.stderr.hasPrefix("error: \(path): node '") && r.stderr.hasSuffix("names no node of the graph (truncated or incomplete file?)\n"),
                      r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1)
    }

    func testPbtxtSyntaxErrorHasLineAndColumn() throws {
        let dir = try fixture("resource")
        let path = "\(dir)/broken.pbtxt"
        try "node {\n  name: \"x\"\n  op: \"Placeholder\"\n  attr { key: \"dtype\" value { type: DT_FLOAT }\n}\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        try assertFails(["inspect", path], stderr: "error: \(path):6:1: expected '}' before the end of the file")
    }

    func testFlippedCheckpointByte() throws {
        let dir = try fixture("resource")
        let data = "\(dir)/train_dir/model.ckpt-2.data-00000-of-00001"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: data)))
        bytes[bytes.count / 2] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: data))
        let r = try run(["freeze", "--graph", "\(dir)/inference_graph.pb", "--checkpoint", "\(dir)/train_dir",
                         "--output_nodes", "logits", "-o", "\(dir)/frozen.pb"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("error: \(data) (tensor '"), r.stderr)
        XCTAssertTrue(r.stderr.hasSuffix("'): corrupt checkpoint: CRC32C mismatch (the data is corrupt)\n"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/frozen.pb"), "nothing half-written")
    }

    func testMissingShard() throws {
        let dir = try fixture("sharded")
        let shard = "\(dir)/train_dir/model.ckpt-2.data-00001-of-00002"
        try FileManager.default.removeItem(atPath: shard)
        let r = try run(["freeze", "--graph", "\(dir)/inference_graph.pb", "--checkpoint", "\(dir)/train_dir",
                         "--output_nodes", "logits", "-o", "\(dir)/frozen.pb"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("error: \(shard) (tensor '"), r.stderr)
        XCTAssertTrue(r.stderr.hasSuffix("'): corrupt checkpoint: data shard 2 of 2 is missing\n"), r.stderr)
    }

    func testVariableMissingFromCheckpoint() throws {
        let dir = try fixture("allops")
        // A checkpoint of another model: the first variable the graph needs is not in it.
        let other = try fixture("resource")
        let r = try run(["freeze", "--graph", "\(dir)/inference_graph.pb", "--checkpoint", "\(other)/train_dir/model.ckpt-1",
                         "--output_nodes", "logits", "-o", "\(dir)/frozen.pb"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("error: freeze: node '"), r.stderr)
        XCTAssertTrue(r.stderr.contains("not found in checkpoint \(other)/train_dir/model.ckpt-1.index")
                      || r.stderr.contains("but the checkpoint holds"), r.stderr)
    }

    func testUnknownOutputNodeAndUsageErrors() throws {
        let dir = try fixture("allops")
        try assertFails(["freeze", "--graph", "\(dir)/inference_graph.pb", "--checkpoint", "\(dir)/train_dir",
                         "--output_nodes", "nope", "-o", "\(dir)/f.pb"],
                        stderr: "error: \(dir)/inference_graph.pb: output node 'nope' is not a node of the graph")
        let usage = try run(["freeze", "--graph", "x.pb", "-o", "y.pb"])
        XCTAssertEqual(usage.status, 2)
        XCTAssertTrue(usage.stderr.contains("give --graph and --checkpoint, or --saved_model"), usage.stderr)
        try assertFails(["inspect", "\(dir)/no-such.pb"], stderr: "error: \(dir)/no-such.pb: cannot open: No such file or directory")
    }

    func testInspectJSONListsInputsOutputsAndRoles() throws {
        let dir = try fixture("allops")
        let r = try run(["inspect", "\(dir)/frozen_tf.pb", "--json", "--input_shapes", "?,16,16,3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let inputs = try XCTUnwrap(json["inputs"] as? [[String: Any]])
        XCTAssertEqual(inputs.first?["name"] as? String, "input")
        XCTAssertEqual(inputs.first?["shape"] as? [Int], [-1, 16, 16, 3])
        let outputs = try XCTUnwrap(json["outputs"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        XCTAssertTrue(outputs.contains("probs"), "\(outputs)")
        let nodes = try XCTUnwrap(json["nodes"] as? [[String: Any]])
        let conv = try XCTUnwrap(nodes.first { $0["op"] as? String == "Conv2D" })
        XCTAssertEqual(conv["role"] as? String, "compute")
        XCTAssertEqual(conv["patterns"] as? [String], ["conv_bias_act"])
        // The swish's Sigmoid is quantized inside the swish pattern only.
        let sigmoid = try XCTUnwrap(nodes.first { $0["op"] as? String == "Sigmoid" })
        XCTAssertEqual(sigmoid["role"] as? String, "in-pattern")
        XCTAssertEqual(sigmoid["patterns"] as? [String], ["swish"])
        let softmax = try XCTUnwrap(nodes.first { $0["op"] as? String == "Softmax" })
        XCTAssertEqual(softmax["role"] as? String, "float")
        XCTAssertEqual(softmax["shape"] as? [Int], [-1, 10])
    }

    func testInspectCheckpointDirectory() throws {
        let dir = try fixture("sharded")
        let r = try run(["inspect", "\(dir)/train_dir"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("checkpoint \(dir)/train_dir/model.ckpt-2: "), r.stdout)
        XCTAssertTrue(r.stdout.contains("in 2 shard(s), step 2"), r.stdout)
    }
}
