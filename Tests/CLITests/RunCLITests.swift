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
}
